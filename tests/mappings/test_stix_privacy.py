"""Where identifiers go, the output holds keyed hashes and nothing else."""

from __future__ import annotations

import re

import tests.mappings.stix_factories as factories
from mappings.convert import bundle_json, records_to_bundle
from mappings.names import EXT_KEYED_IDENTIFIER

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_raw_identifiers_and_prompts_never_appear_in_the_bundle() -> None:
    data = bundle_json(records_to_bundle(factories.campaign_records(), factories.LAB_A))
    text = data.decode("utf-8").lower()
    for raw in (*factories.RAW_EMAILS, *factories.RAW_PHONES, *factories.RAW_PROMPTS):
        assert raw.lower() not in text
        assert raw.strip().lower().replace(" ", "") not in text.replace(" ", "")
    for email in factories.RAW_EMAILS:
        local, domain = email.split("@")
        assert local not in text and f"@{domain}" not in text
    for prompt in factories.RAW_PROMPTS:
        words = prompt.lower().split()
        for start in range(len(words) - 2):
            assert " ".join(words[start : start + 3]) not in text, "a 3-word prompt shingle leaked"
    for email in factories.RAW_EMAILS:
        assert factories.keyed_hash(email) in text, "the keyed hash is what gets shared"


def test_user_accounts_carry_only_the_keyed_hash_and_its_scheme() -> None:
    bundle = records_to_bundle([factories.cluster()], factories.LAB_A)
    accounts = [obj for obj in bundle["objects"] if obj["type"] == "user-account"]
    assert len(accounts) == len(factories.cluster().members)
    for account in accounts:
        expected = {"type", "spec_version", "id", "user_id", "extensions"}
        assert set(account) == expected
        assert HEX64.match(account["user_id"])
        scheme = account["extensions"][EXT_KEYED_IDENTIFIER]
        assert scheme["key_id"] == factories.KEY_ID
        assert scheme["hash_algorithm"] == "hmac-sha256"
        assert scheme["identifier_kind"] in {"email", "phone"}


def test_ids_are_not_derived_from_identifiers_anyone_could_guess() -> None:
    """Authored ids come from producer keys; only SCO ids (over keyed hashes) are content-based."""
    bundle = records_to_bundle([factories.cluster()], factories.LAB_A)
    from mappings.ids import observable_id

    for email in factories.RAW_EMAILS:
        for field in ("user_id", "account_login", "value"):
            guess = observable_id("user-account", {field: email})
            assert guess not in {obj["id"] for obj in bundle["objects"]}

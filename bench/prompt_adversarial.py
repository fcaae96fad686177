"""Adversarial benchmark of prompt-template matching, as a partner lab would run it.

    python bench/prompt_adversarial.py             # recall per class, false positives (~2 min)
    python bench/prompt_adversarial.py --quick     # fewer prompts (~30 s)
    python bench/prompt_adversarial.py --speed     # dx match throughput vs 100..100,000 templates
    python bench/prompt_adversarial.py --old       # also the p1 (MinHash) matcher, for comparison
    python bench/prompt_adversarial.py --sweep     # containment threshold sweep
    python bench/prompt_adversarial.py --simhash   # the p1 SimHash rule, by Hamming threshold

The corpus is ``bench/adversarial_corpus.py`` (56 templates of many shapes,
held-out slot fills, every evasion class of issue 13, benign human text and
ordinary requests on the same topics). Each template's signature is learned
from 24 campaign prompts with training fills (a third padded), exactly as
``dx fingerprint`` does (``fingerprint_template_set``); matching goes through
``exchange.match.prompts`` (what ``dx match`` runs). Recall counts a test
prompt as found when it matches its own template by any rule.

False positives are counted on benign prompts against an index of 1,000
templates (the 56 plus 944 generated instruction templates): per (benign
prompt, template) pair, and per benign prompt (matching any template).
Targets (issue 13): recall >= 95% (>= 90% in an 80-word system wrapper,
>= 85% with synonym swaps) for templates with >= 12 fixed words; <= 0.01%
of pairs; <= 0.5% of benign prompts.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adversarial_corpus as corpus

from exchange.feed.current import FingerprintEntry
from exchange.match.prompts import PromptIndex, build_prompt_index, match_prompts
from exchange.privacy import ConsortiumKey, fingerprint_prompts, fingerprint_template_set
from exchange.privacy.fingerprint import fingerprint_template_set_p1
from exchange.privacy.template_signature import containment_hasher_for

BENCH_KEY = ConsortiumKey("bench-key", bytes(range(1, 33)))
CAMPAIGN_PROMPTS = 24


def entries_for(
    template: corpus.Template,
    rng: random.Random,
    learn: Callable[..., object] = fingerprint_template_set,
    count: int = CAMPAIGN_PROMPTS,
) -> list[FingerprintEntry]:
    """What a producer would share for ``template``, as feed entries."""
    payload = learn(corpus.campaign_prompts(template, count, rng), BENCH_KEY)
    out = []
    for position, fingerprint in enumerate(payload.fingerprints):  # type: ignore[attr-defined]
        data = fingerprint.to_dict()
        out.append(
            FingerprintEntry(
                algorithm=data["algorithm"],
                key_id=data["key_id"],
                value=data["value"],
                match_rule=data["match_rule"],
                parameters={k: v for k, v in data["parameters"].items() if k != "key_id"},
                producer="identity--bench",
                indicator_id=f"indicator--{template.name}-{position}",
                fingerprint_id=template.name,
                confidence=80,
            )
        )
    return out


def build_index(
    templates: Sequence[corpus.Template], seed: int, learn: Callable[..., object], count: int
) -> PromptIndex:
    rng = random.Random(seed)
    entries = [entry for t in templates for entry in entries_for(t, rng, learn, count)]
    return build_prompt_index(BENCH_KEY, entries)


def matched_templates(index: PromptIndex, prompts: Sequence[str]) -> list[set[str]]:
    hits, _ = match_prompts(index, prompts)
    found: list[set[str]] = [set() for _ in prompts]
    for hit in hits:
        found[hit.position].add(hit.entry.fingerprint_id or "")
    return found


def share_bucket(template: corpus.Template, rng: random.Random) -> str:
    sample = corpus.fill(template, rng, "test")
    total = len(corpus.re.findall(r"[A-Za-z0-9']+", sample))
    share = corpus.fixed_words(template) / total
    return ">=60%" if share >= 0.6 else "30-60%" if share >= 0.3 else "<30%"


def recall(index: PromptIndex, per_template: int, seed: int) -> None:
    templates = [t for t in corpus.TEMPLATES if corpus.fixed_words(t) >= 12]
    buckets = {t.name: share_bucket(t, random.Random(seed)) for t in templates}
    print(
        f"\nrecall, {len(templates)} templates with >= 12 fixed words, {per_template} "
        "held-out prompts each per class"
    )
    print(f"{'class':<16} {'all':>7} {'>=60%':>7} {'30-60%':>7} {'<30%':>7}  target")
    worst: dict[str, list[tuple[float, str]]] = {}
    for evasion in [*corpus.EVASIONS, *corpus.STRESS]:
        rng = random.Random(f"{seed}-{evasion}")
        prompts, owners = [], []
        for template in templates:
            for _ in range(per_template):
                prompts.append(corpus.test_prompt(template, evasion, rng))
                owners.append(template.name)
        found = matched_templates(index, prompts)
        by_bucket: dict[str, list[bool]] = defaultdict(list)
        by_template: dict[str, list[bool]] = defaultdict(list)
        for owner, names in zip(owners, found, strict=True):
            ok = owner in names
            by_bucket["all"].append(ok)
            by_bucket[buckets[owner]].append(ok)
            by_template[owner].append(ok)
        cells = [
            f"{100 * sum(v) / len(v):6.1f}%" if (v := by_bucket.get(b)) else "      -"
            for b in ("all", ">=60%", "30-60%", "<30%")
        ]
        overall = sum(by_bucket["all"]) / len(by_bucket["all"])
        if evasion in corpus.TARGETS:
            target = corpus.TARGETS[evasion]
            flag = f">= {100 * target:.0f}% " + ("met" if overall >= target else "NOT MET")
        else:
            flag = "(stress: no target)"
        print(f"{evasion:<16} {' '.join(cells)}  {flag}")
        worst[evasion] = sorted((sum(v) / len(v), k) for k, v in by_template.items())[:3]
    print("weakest templates per class:")
    for evasion, items in worst.items():
        shown = ", ".join(f"{name} {100 * rate:.0f}%" for rate, name in items if rate < 1)
        if shown:
            print(f"  {evasion}: {shown}")


def false_positives(index: PromptIndex, n_templates: int, benign: int, seed: int) -> None:
    prompts = corpus.benign_prompts(benign, seed + 7)
    print(f"\nfalse positives against {n_templates} templates")
    print(
        f"{'benign set':<18} {'prompts':>8} {'pairs matched':>14} {'of pairs':>10} "
        f"{'prompts matching any':>21}"
    )
    for kind, texts in prompts.items():
        found = matched_templates(index, texts)
        pairs = sum(len(names) for names in found)
        anyhit = sum(1 for names in found if names)
        print(
            f"{kind:<18} {len(texts):>8} {pairs:>14} "
            f"{100 * pairs / (len(texts) * n_templates):>9.4f}% {100 * anyhit / len(texts):>20.2f}%"
        )
    print("targets: <= 0.01% of pairs, <= 0.5% of benign prompts")


def sweep(templates: Sequence[corpus.Template], seed: int, per_template: int, benign: int) -> None:
    """Recall of the hardest classes and benign hits at other containment thresholds."""
    rng = random.Random(seed)
    entries = [e for t in templates for e in entries_for(t, rng)]
    low = [
        FingerprintEntry(
            **{**e.__dict__, "match_rule": {"metric": "containment", "threshold": 0.2}}
        )
        if e.algorithm == "containment-keyed"
        else e
        for e in entries
    ]
    index = build_prompt_index(BENCH_KEY, low)
    thresholds = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    print(f"\ncontainment threshold sweep ({len(templates)} templates)")
    print(f"{'':<26}" + "".join(f"{t:>8}" for t in thresholds))
    real = [t for t in corpus.TEMPLATES if corpus.fixed_words(t) >= 12]
    for evasion in ("plain", "system_wrapper", "synonyms", "lookalikes"):
        erng = random.Random(f"{seed}-{evasion}")
        prompts, owners = [], []
        for template in real:
            for _ in range(per_template):
                prompts.append(corpus.test_prompt(template, evasion, erng))
                owners.append(template.name)
        best = [0.0] * len(prompts)
        hits, _ = match_prompts(index, prompts)
        for hit in hits:
            if hit.entry.fingerprint_id == owners[hit.position]:
                best[hit.position] = max(best[hit.position], hit.similarity)
        cells = "".join(f"{100 * sum(b >= t for b in best) / len(best):7.1f}%" for t in thresholds)
        print(f"recall {evasion:<19}{cells}")
    for kind, texts in corpus.benign_prompts(benign, seed + 7).items():
        hits, _ = match_prompts(index, texts)
        best = [0.0] * len(texts)
        for hit in hits:
            if hit.rule == "template-containment":
                best[hit.position] = max(best[hit.position], hit.similarity)
        cells = "".join(f"{100 * sum(b >= t for b in best) / len(best):7.2f}%" for t in thresholds)
        print(f"benign prompts hit {kind[:7]:<7}{cells}")


def simhash_sweep(templates: Sequence[corpus.Template], seed: int, benign: int) -> None:
    """The p1 SimHash rule (what dx match used as a fallback) on this corpus, by threshold."""
    rng = random.Random(seed)
    shared = [
        fingerprint_template_set_p1(
            corpus.campaign_prompts(t, CAMPAIGN_PROMPTS, rng), BENCH_KEY
        ).simhash.simhash_value
        for t in templates
    ]
    real = [t for t in corpus.TEMPLATES if corpus.fixed_words(t) >= 12]
    erng = random.Random(f"{seed}-plain")
    tests = [
        (i, corpus.test_prompt(t, "plain", erng)) for i, t in enumerate(real) for _ in range(10)
    ]
    local = [fps[2].simhash_value for fps in fingerprint_prompts([p for _, p in tests], BENCH_KEY)]
    texts = [p for kind in corpus.benign_prompts(benign, seed + 7).values() for p in kind]
    bvals = [fps[2].simhash_value for fps in fingerprint_prompts(texts, BENCH_KEY)]
    print(f"\nSimHash (p1, 2-word shingles) on this corpus, {len(templates)} templates")
    print(f"{'Hamming <=':>12} {'recall plain':>13} {'benign pairs':>13} {'benign prompts':>15}")
    for threshold in (8, 12, 16, 20):
        found = sum(
            (v ^ shared[i]).bit_count() <= threshold for (i, _), v in zip(tests, local, strict=True)
        )
        pairs = [sum((v ^ s).bit_count() <= threshold for s in shared) for v in bvals]
        print(
            f"{threshold:>12} {100 * found / len(tests):>12.1f}% "
            f"{100 * sum(pairs) / (len(bvals) * len(shared)):>12.4f}% "
            f"{100 * sum(1 for c in pairs if c) / len(bvals):>14.2f}%"
        )


def old_corpus() -> None:
    """The previous calibration corpus (seed 1234, 34 x 30 + 1,000) under the shipped p2 path:
    signatures learned from 10 prompts per scaffold, the other 20 matched."""
    from exchange.privacy.calibration_corpus import generate_corpus

    data = generate_corpus(1234, prompts_per_template=30, unrelated=1000)
    by_template: dict[int, list[str]] = defaultdict(list)
    for index, text in data.templated:
        by_template[index].append(text)
    entries = []
    for index, texts in sorted(by_template.items()):
        payload = fingerprint_template_set(texts[:10], BENCH_KEY)
        for position, fingerprint in enumerate(payload.fingerprints):
            d = fingerprint.to_dict()
            entries.append(
                FingerprintEntry(
                    algorithm=d["algorithm"],
                    key_id=d["key_id"],
                    value=d["value"],
                    match_rule=d["match_rule"],
                    parameters={k: v for k, v in d["parameters"].items() if k != "key_id"},
                    producer="identity--bench",
                    indicator_id=f"indicator--old-{index}-{position}",
                    fingerprint_id=f"old-{index}",
                    confidence=80,
                )
            )
    index = build_prompt_index(BENCH_KEY, entries)
    tests = [(i, text) for i, texts in sorted(by_template.items()) for text in texts[10:]]
    found = matched_templates(index, [text for _, text in tests])
    recall = sum(f"old-{i}" in names for (i, _), names in zip(tests, found, strict=True))
    benign = matched_templates(index, list(data.unrelated))
    pairs = sum(len(names) for names in benign)
    print("\nprevious corpus (seed 1234), p2 signatures from 10 prompts per scaffold:")
    print(f"  held-out templated prompts matched: {100 * recall / len(tests):.2f}% of {len(tests)}")
    print(
        f"  unrelated prompts matching any of {len(by_template)} scaffolds: "
        f"{100 * sum(1 for n in benign if n) / len(benign):.2f}%; pairs "
        f"{100 * pairs / (len(benign) * len(by_template)):.4f}%"
    )


def speed(seed: int, sizes: Sequence[int], prompts_count: int) -> None:
    """Match throughput of the shipped path against indexes of growing size."""
    rng = random.Random(seed)
    test = [corpus.test_prompt(t, "plain", rng) for t in corpus.TEMPLATES for _ in range(10)]
    benign = corpus.benign_prompts(len(test), seed)
    mixed = test + benign["human_text"] + benign["ordinary_requests"]
    rng.shuffle(mixed)
    mixed = (mixed * (prompts_count // len(mixed) + 1))[:prompts_count]
    synthetic = corpus.scale_templates(max(sizes), seed)
    learn_rng = random.Random(seed + 1)
    entries: list[FingerprintEntry] = []
    for t in corpus.TEMPLATES:
        entries.extend(entries_for(t, learn_rng))
    built = len(corpus.TEMPLATES)
    print(
        f"\ndx match prompt path, {len(mixed)} prompts (half campaign, half benign), "
        "CPU seconds, median of 3"
    )
    print(f"{'templates':>10} {'prompts/s':>10} {'us/prompt':>10}")
    per_prompt = {}
    for size in sizes:
        while built < size:
            t = synthetic[built - len(corpus.TEMPLATES)]
            entries.extend(entries_for(t, learn_rng, count=6))
            built += 1
        index = build_prompt_index(BENCH_KEY, entries[: _entries_upto(entries, size)])
        # A fresh dx match process: empty shingle caches (the hasher's, and the index's own
        # word-pair probe cache, new with each index), warmed by its first prompts.
        containment_hasher_for(BENCH_KEY).clear_cache()
        index.containment.prepare()  # done once when dx match opens its index
        gc.freeze()  # as dx match does once its index is open
        match_prompts(index, mixed[:200])
        times = []
        for _ in range(3):
            start = time.process_time()
            match_prompts(index, mixed)
            times.append(time.process_time() - start)
        elapsed = statistics.median(times)
        per_prompt[size] = elapsed / len(mixed)
        print(f"{size:>10} {len(mixed) / elapsed:>10.0f} {1e6 * per_prompt[size]:>10.1f}")
    low, high = min(per_prompt.values()), max(per_prompt.values())
    print(
        f"per-prompt time, largest / smallest: {high / low:.2f}x (target <= 1.5x); "
        "target >= 5,000 prompts/s at 10,000 templates"
    )


def _entries_upto(entries: Sequence[FingerprintEntry], templates: int) -> int:
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        seen.add(entry.fingerprint_id or "")
        if len(seen) > templates:
            return i
    return len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speed", action="store_true", help="only the throughput figures")
    parser.add_argument("--old", action="store_true", help="also run the p1 MinHash matcher")
    parser.add_argument("--sweep", action="store_true", help="only the threshold sweep")
    parser.add_argument("--simhash", action="store_true", help="only the p1 SimHash rule")
    parser.add_argument("--old-corpus", action="store_true", help="the previous corpus, p2 path")
    parser.add_argument("--seed", type=int, default=1313)
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    args = parser.parse_args()
    if args.speed:
        speed(args.seed, [int(s) for s in args.sizes.split(",")], 2000 if args.quick else 10000)
        return
    per_template = 8 if args.quick else 30
    benign = 1000 if args.quick else 4000
    matchers = [("p2 template signatures (containment, shipped)", fingerprint_template_set)]
    if args.old:
        matchers.append(("p1 MinHash + exact (before issue 13)", fingerprint_template_set_p1))
    templates = corpus.TEMPLATES + corpus.synthetic_templates(
        1000 - len(corpus.TEMPLATES), args.seed
    )
    if args.sweep:
        sweep(templates, args.seed, per_template, benign)
        return
    if args.old_corpus:
        old_corpus()
        return
    if args.simhash:
        simhash_sweep(templates, args.seed, benign)
        return
    for title, learn in matchers:
        print(f"=== {title}")
        index = build_index(templates, args.seed, learn, CAMPAIGN_PROMPTS)
        recall(index, per_template, args.seed)
        false_positives(index, len(templates), benign, args.seed)


if __name__ == "__main__":
    main()

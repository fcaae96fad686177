"""Phone numbers to E.164 (``+`` and 7 to 15 digits), the ``n1`` way.

Two labs must turn the same phone number into the same string before
hashing, whatever formatting their sign-up forms allowed. The rules:

1. NFKC; digits of any script count (``int()`` of a Unicode decimal digit).
2. An optional ``tel:`` prefix is dropped. Spaces, ``-``, ``.``, ``/``,
   ``(``, ``)`` and the Unicode dashes are separators and are dropped.
   Anything else (letters, ``#``, ``*``, an extension such as ``x12``) is
   refused: guessing would hash a different number.
3. International form: a leading ``+`` or ``00`` (or ``011`` when the default
   region is in the North American plan) starts the country code. A ``(0)``
   right after the country code (``+44 (0)20 ...``) is dropped.
4. National form needs ``default_region`` (ISO 3166 alpha-2, e.g. ``"GB"``):
   the region's trunk prefix is dropped (``0`` in most regions, ``1`` in the
   North American plan, ``8`` in RU/KZ/BY/TM, ``06`` in HU, none in IT, SM,
   VA where a leading 0 belongs to the number) and its calling code prepended.
5. The result must start with an assigned country calling code and have 7 to
   15 digits in all. Number plans inside a country are not checked.
"""

from __future__ import annotations

import unicodedata

_SEPARATORS = frozenset(" -./()\u2010\u2011\u2012\u2013\u2014\u2212\u00a0")

# ITU country calling code -> the ISO 3166 alpha-2 regions that use it.
_CALLING_CODE_TABLE = """
1: US CA AG AI AS BB BM BS DM DO GD GU JM KN KY LC MP MS PR SX TC TT VC VG VI
7: RU KZ
20: EG
27: ZA
30: GR
31: NL
32: BE
33: FR
34: ES
36: HU
39: IT VA
40: RO
41: CH
43: AT
44: GB GG IM JE
45: DK
46: SE
47: NO SJ
48: PL
49: DE
51: PE
52: MX
53: CU
54: AR
55: BR
56: CL
57: CO
58: VE
60: MY
61: AU CX CC
62: ID
63: PH
64: NZ
65: SG
66: TH
81: JP
82: KR
84: VN
86: CN
90: TR
91: IN
92: PK
93: AF
94: LK
95: MM
98: IR
211: SS
212: MA EH
213: DZ
216: TN
218: LY
220: GM
221: SN
222: MR
223: ML
224: GN
225: CI
226: BF
227: NE
228: TG
229: BJ
230: MU
231: LR
232: SL
233: GH
234: NG
235: TD
236: CF
237: CM
238: CV
239: ST
240: GQ
241: GA
242: CG
243: CD
244: AO
245: GW
246: IO
247: AC
248: SC
249: SD
250: RW
251: ET
252: SO
253: DJ
254: KE
255: TZ
256: UG
257: BI
258: MZ
260: ZM
261: MG
262: RE YT
263: ZW
264: NA
265: MW
266: LS
267: BW
268: SZ
269: KM
290: SH TA
291: ER
297: AW
298: FO
299: GL
350: GI
351: PT
352: LU
353: IE
354: IS
355: AL
356: MT
357: CY
358: FI AX
359: BG
370: LT
371: LV
372: EE
373: MD
374: AM
375: BY
376: AD
377: MC
378: SM
380: UA
381: RS
382: ME
383: XK
385: HR
386: SI
387: BA
389: MK
420: CZ
421: SK
423: LI
500: FK
501: BZ
502: GT
503: SV
504: HN
505: NI
506: CR
507: PA
508: PM
509: HT
590: GP BL MF
591: BO
592: GY
593: EC
594: GF
595: PY
596: MQ
597: SR
598: UY
599: CW BQ
670: TL
672: NF
673: BN
674: NR
675: PG
676: TO
677: SB
678: VU
679: FJ
680: PW
681: WF
682: CK
683: NU
685: WS
686: KI
687: NC
688: TV
689: PF
690: TK
691: FM
692: MH
850: KP
852: HK
853: MO
855: KH
856: LA
880: BD
886: TW
960: MV
961: LB
962: JO
963: SY
964: IQ
965: KW
966: SA
967: YE
968: OM
970: PS
971: AE
972: IL
973: BH
974: QA
975: BT
976: MN
977: NP
992: TJ
993: TM
994: AZ
995: GE
996: KG
998: UZ
"""


def _parse_table(table: str) -> dict[str, str]:
    regions: dict[str, str] = {}
    for line in table.strip().splitlines():
        code, names = line.split(":")
        for region in names.split():
            regions[region] = code.strip()
    return regions


REGION_CALLING_CODES: dict[str, str] = _parse_table(_CALLING_CODE_TABLE)
"""ISO 3166 alpha-2 region -> ITU country calling code."""

# Codes without a region of their own: global services and satellite networks.
_NON_GEOGRAPHIC_CODES = frozenset({"800", "808", "870", "881", "882", "883", "888", "979"})
CALLING_CODES = frozenset(REGION_CALLING_CODES.values()) | _NON_GEOGRAPHIC_CODES

_TRUNK_PREFIXES: dict[str, str] = {
    **dict.fromkeys((r for r, code in REGION_CALLING_CODES.items() if code == "1"), "1"),
    **dict.fromkeys(("RU", "KZ", "BY", "TM"), "8"),
    "HU": "06",
    **dict.fromkeys(("IT", "SM", "VA"), ""),
}
_DEFAULT_TRUNK_PREFIX = "0"

MIN_DIGITS = 7
MAX_DIGITS = 15


def _digits_of(text: str) -> tuple[bool, str]:
    """(starts with '+', the digits); ValueError on anything but digits and separators."""
    plus = text.startswith("+")
    body = text[1:] if plus else text
    if plus and "(0)" in body:
        before, after = body.split("(0)", 1)
        if "".join(ch for ch in before if ch not in _SEPARATORS) in CALLING_CODES:
            body = before + " " + after
    digits = []
    for ch in body:
        if ch in _SEPARATORS:
            continue
        if ch.isdecimal():
            digits.append(str(unicodedata.decimal(ch)))
            continue
        if ch.isalpha():
            raise ValueError(
                "phone number contains letters; only digits, '+' and separators are allowed "
                "(no extensions)"
            )
        raise ValueError(f"phone number contains {ch!r}; only digits and separators are allowed")
    return plus, "".join(digits)


def _country_code_of(digits: str) -> str | None:
    for length in (1, 2, 3):
        if digits[:length] in CALLING_CODES:
            return digits[:length]
    return None


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 form of ``raw``; ValueError with a one-line reason when it cannot be."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if not text:
        raise ValueError("phone number is empty")
    region = default_region.upper() if default_region else None
    if region is not None and region not in REGION_CALLING_CODES:
        raise ValueError(f"unknown default region {default_region!r} (use ISO 3166 alpha-2)")
    plus, digits = _digits_of(text)
    if not digits:
        raise ValueError("phone number has no digits")
    if plus:
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif region is not None and REGION_CALLING_CODES[region] == "1" and digits.startswith("011"):
        international = digits[3:]
    elif region is None:
        raise ValueError(
            "phone number has no country code: write it as +<country code>... "
            "or pass a default region"
        )
    else:
        trunk = _TRUNK_PREFIXES.get(region, _DEFAULT_TRUNK_PREFIX)
        national = digits[len(trunk) :] if trunk and digits.startswith(trunk) else digits
        international = REGION_CALLING_CODES[region] + national
    if _country_code_of(international) is None:
        raise ValueError("phone number does not start with an assigned country calling code")
    if not MIN_DIGITS <= len(international) <= MAX_DIGITS:
        raise ValueError(
            f"phone number has {len(international)} digits with its country code; "
            f"E.164 allows {MIN_DIGITS} to {MAX_DIGITS}"
        )
    return "+" + international

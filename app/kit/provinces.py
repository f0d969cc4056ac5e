"""North Korea's first-level divisions, one value each whatever the romanisation.

Sources spell the same province several ways (Hamgyong, Hamgyeong, Hamkyung, Hamgyŏng;
Ryanggang, Yanggang). Every spelling a client or a seed file sends is folded to one value.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator


class Province(StrEnum):
    pyongyang = "pyongyang"
    south_pyongan = "south_pyongan"
    north_pyongan = "north_pyongan"
    chagang = "chagang"
    south_hwanghae = "south_hwanghae"
    north_hwanghae = "north_hwanghae"
    kangwon = "kangwon"
    south_hamgyong = "south_hamgyong"
    north_hamgyong = "north_hamgyong"
    ryanggang = "ryanggang"
    rason = "rason"
    nampho = "nampho"
    kaesong = "kaesong"


PROVINCE_LABELS: dict[Province, str] = {
    Province.pyongyang: "Pyongyang",
    Province.south_pyongan: "South Pyongan",
    Province.north_pyongan: "North Pyongan",
    Province.chagang: "Chagang",
    Province.south_hwanghae: "South Hwanghae",
    Province.north_hwanghae: "North Hwanghae",
    Province.kangwon: "Kangwon",
    Province.south_hamgyong: "South Hamgyong",
    Province.north_hamgyong: "North Hamgyong",
    Province.ryanggang: "Ryanggang",
    Province.rason: "Rason",
    Province.nampho: "Nampho",
    Province.kaesong: "Kaesong",
}

# Folded spellings (lower case, ASCII, no separators) of each province's name without its
# direction. McCune-Reischauer, Revised Romanization and the common press spellings.
_STEMS: dict[str, tuple[str, ...]] = {
    "pyongyang": ("pyongyang", "pyeongyang"),
    "pyongan": ("pyongan", "pyeongan", "pyungan"),
    "chagang": ("chagang", "jagang"),
    "hwanghae": ("hwanghae",),
    "kangwon": ("kangwon", "gangwon"),
    "hamgyong": ("hamgyong", "hamgyeong", "hamkyong", "hamkyung", "hamgyung"),
    "ryanggang": ("ryanggang", "yanggang"),
    "rason": ("rason", "rajinsonbong", "rajin"),
    "nampho": ("nampho", "nampo"),
    "kaesong": ("kaesong", "gaeseong"),
}
_DIRECTIONS = {"north": "north", "south": "south", "n": "north", "s": "south"}
_KOREAN_SUFFIXES = {
    "bukto": "north",
    "pukto": "north",
    "bukdo": "north",
    "namdo": "south",
    "buk": "north",
    "puk": "north",
    "nam": "south",
}
_PAIRED = {"pyongan", "hwanghae", "hamgyong"}
_NOISE = {"province", "provinces", "do", "city", "specialcity", "directlygoverned"}
_KOREAN: dict[str, Province] = {
    "평양": Province.pyongyang,
    "평안남도": Province.south_pyongan,
    "평안북도": Province.north_pyongan,
    "자강도": Province.chagang,
    "황해남도": Province.south_hwanghae,
    "황해북도": Province.north_hwanghae,
    "강원도": Province.kangwon,
    "함경남도": Province.south_hamgyong,
    "함경북도": Province.north_hamgyong,
    "량강도": Province.ryanggang,
    "양강도": Province.ryanggang,
    "라선": Province.rason,
    "남포": Province.nampho,
    "개성": Province.kaesong,
}


_SEPARATORS = re.compile("[\\s_\\-'`.\u2019\u02bc]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def parse_province(text: str) -> Province:
    """Map any common spelling of a province to its value; ValueError when unknown."""
    stripped = text.strip()
    for korean, province in _KOREAN.items():
        if stripped.startswith(korean):
            return province
    parts = _SEPARATORS.split(_fold(stripped))
    words = [w for w in parts if w and w not in _NOISE]
    direction = None
    if words and words[0] in _DIRECTIONS:
        direction = _DIRECTIONS[words.pop(0)]
    stem_text = "".join(words)
    for suffix, suffix_direction in _KOREAN_SUFFIXES.items():
        if stem_text.endswith(suffix) and direction is None:
            stem_text, direction = stem_text[: -len(suffix)], suffix_direction
            break
    if stem_text.endswith("do") and stem_text[:-2] in {s for v in _STEMS.values() for s in v}:
        stem_text = stem_text[:-2]
    for stem, spellings in _STEMS.items():
        if stem_text in spellings:
            if stem in _PAIRED:
                if direction is None:
                    break
                return Province(f"{direction}_{stem}")
            if direction is None:
                return Province(stem)
    raise ValueError(
        f"unknown province {text!r}; expected one of: " + ", ".join(p.value for p in Province)
    )


def _coerce_province(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Province):
        try:
            return parse_province(value)
        except ValueError:
            return value  # let the enum validation report it with the allowed values
    return value


ProvinceField = Annotated[Province, BeforeValidator(_coerce_province)]

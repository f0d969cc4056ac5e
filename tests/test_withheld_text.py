"""What a protected record withholds from anonymous clients is not served elsewhere in plain
text, in the seed corpus: no anonymous answer repeats a withheld quote (whole, or 40 characters
of it in a row), a withheld locator, county, exact age, birth year or date finer than a year,
or the notes of a protected claim, and no claim whose claimant is withheld names it.
Facility descriptions, testimony summaries, claim statements and source notes are written for
everyone; they must not carry what the coarsened records leave out.

The seed's accounts are all published, so its records are public: what it withholds from
anonymous clients is who makes the claims of inside sources."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.seeding.loader import load_seed, read_seed
from app.settings import SEED_DIR
from tests import factories

KINDS = ["organizations", "sources", "facilities", "testimonies", "claims"]
RUN = 40  # consecutive characters of a withheld text that may not appear anywhere
MONTHS = list(calendar.month_name)[1:]
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
TYPOGRAPHY = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(TYPOGRAPHY)).strip().casefold()


@dataclass
class Withheld:
    """What anonymous clients are not shown, as a read:confidential key sees it."""

    quotes: dict[str, str] = field(default_factory=dict)  # normalised text -> its record
    notes: dict[str, str] = field(default_factory=dict)
    locators: dict[tuple[str, int, int], str] = field(default_factory=dict)
    counties: dict[str, str] = field(default_factory=dict)
    ages: dict[int, str] = field(default_factory=dict)
    birth_years: dict[int, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)  # ISO dates finer than a year
    # Withheld claimants: the claim -> the claimant's id and name, as a cleared client sees them.
    claimants: dict[str, tuple[str, str]] = field(default_factory=dict)

    def runs(self) -> dict[str, str]:
        """Every RUN-character stretch of a withheld quote or note, with its record."""
        stretches: dict[str, str] = {}
        for texts in (self.quotes, self.notes):
            for text, where in texts.items():
                for start in range(max(len(text) - RUN + 1, 1)):
                    stretches.setdefault(text[start : start + RUN], where)
        return stretches


async def records(client: httpx.AsyncClient, kind: str, headers: dict[str, str]) -> list[Any]:
    """Every record of a list, page by page; each page answers 200."""
    found: list[Any] = []
    url: str | None = f"/v1/{kind}?limit=25"
    while url:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        body = response.json()
        found += body["data"]
        url = body["links"]["next"]
    return found


def cited(record: dict[str, Any]) -> Iterator[tuple[str | None, tuple[str, int, int] | None]]:
    for citation in record["citations"]:
        locator = citation["locator"]
        place = None
        if locator is not None:
            place = (citation["source"]["id"], locator["char_start"], locator["char_end"])
        yield citation["quote"], place


def finer_than_year(period: dict[str, str | None]) -> list[str]:
    return [value for value in (period["start"], period["end"]) if value and len(value) > 4]


def collect(
    withheld: Withheld, kind: str, full: dict[str, Any], shown: dict[str, Any] | None
) -> None:
    """What `shown` (the anonymous copy; None when it is not served at all) lacks of `full`."""
    where = f"{kind}/{full['id']}"
    shown_quotes = {q for q, _ in cited(shown)} if shown else set()
    shown_places = {p for _, p in cited(shown)} if shown else set()
    for quote, place in cited(full):
        if quote is not None and quote not in shown_quotes:
            withheld.quotes[normalise(quote)] = where
        if place is not None and place not in shown_places:
            withheld.locators[place] = where
    coarsened = set(shown["disclosure"]["withheld"]) if shown else None

    def lacks(name: str) -> bool:
        return coarsened is None or name in coarsened

    if lacks("period"):
        for value in finer_than_year(full["period"]):
            withheld.dates[value] = where
    if kind == "testimonies":
        witness = full["witness"]
        if full["county"] and lacks("county"):
            withheld.counties[normalise(full["county"])] = where
        if witness["age_at_start"] is not None and lacks("witness.age_at_start"):
            withheld.ages[witness["age_at_start"]] = where
        if witness["birth_year"] is not None and lacks("witness.birth_year"):
            withheld.birth_years[witness["birth_year"]] = where
    if kind == "claims":
        if shown is not None and shown["claimant"]["withheld"]:
            withheld.claimants[full["id"]] = (full["claimant"]["id"], full["claimant"]["name"])
        if full["notes"] and lacks("notes"):
            withheld.notes[normalise(full["notes"])] = where
        if full["metric"] == "age_years" and full["value"] is not None and lacks("value"):
            withheld.ages[int(full["value"])] = where


async def withheld_material(client: httpx.AsyncClient, session: AsyncSession) -> Withheld:
    await load_seed(session, read_seed(SEED_DIR))
    researcher = await factories.api_key(session, "read:confidential")
    withheld = Withheld()
    for kind in ("testimonies", "claims"):
        shown = {r["id"]: r for r in await records(client, kind, {})}
        for full in await records(client, kind, researcher):
            collect(withheld, kind, full, shown.get(full["id"]))
    return withheld


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def citations_in(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "quote" in value and "locator" in value and "source" in value:
            yield value
        for item in value.values():
            yield from citations_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from citations_in(item)


def age_phrases(age: int) -> list[re.Pattern[str]]:
    spelled = [str(age)] + ([NUMBER_WORDS[age]] if age < len(NUMBER_WORDS) else [])
    words = "|".join(spelled)
    return [
        re.compile(rf"\b(?:at|aged?|age of|just|from age) (?:{words})\b"),
        re.compile(rf"\b(?:{words})[- ]years?[- ]old\b"),
        re.compile(rf"\b(?:{words}) when\b"),
    ]


def date_phrases(iso: str) -> list[str]:
    year, month, *day = iso.split("-")
    name = MONTHS[int(month) - 1]
    phrases = [iso, f"{name} {year}"]
    if day:
        phrases += [f"{name} {int(day[0])}, {year}", f"{int(day[0])} {name} {year}"]
    return [normalise(p) for p in phrases]


def leaks(body: Any, withheld: Withheld) -> list[str]:
    """What of `withheld` `body` (a decoded JSON answer) serves, as readable findings."""
    found: list[str] = []
    runs = withheld.runs()
    ages = {age: age_phrases(age) for age in withheld.ages}
    for raw in strings(body):
        text = normalise(raw)
        for quote, where in withheld.quotes.items():
            if len(quote) < RUN and quote in text:
                found.append(f"the quote of {where}: {raw!r}")
        for start in range(len(text) - RUN + 1):
            if text[start : start + RUN] in runs:
                stretch = text[start : start + RUN]
                found.append(f"{stretch!r} of {runs[stretch]}, in {raw!r}")
                break
        for county, where in withheld.counties.items():
            if county in text:
                found.append(f"the county of {where}: {raw!r}")
        for age, patterns in ages.items():
            if any(p.search(text) for p in patterns):
                found.append(f"the exact age {age} of {withheld.ages[age]}: {raw!r}")
        for year, where in withheld.birth_years.items():
            if re.search(rf"\b(?:born(?: in)?|birth year) {year}\b", text):
                found.append(f"the birth year of {where}: {raw!r}")
        for iso, where in withheld.dates.items():
            if any(phrase in text for phrase in date_phrases(iso)):
                found.append(f"the date {iso} of {where}: {raw!r}")
    for citation in citations_in(body):
        locator = citation["locator"]
        if locator is not None:
            place = (citation["source"]["id"], locator["char_start"], locator["char_end"])
            if place in withheld.locators:
                found.append(f"the locator of {withheld.locators[place]}: {place}")
    return found


def without_mentions(kind: str, record: Any) -> Any:
    """A facility without its mentions (its `citations`), which the other test checks."""
    if kind == "facilities" and isinstance(record, dict) and "citations" in record:
        return {name: value for name, value in record.items() if name != "citations"}
    return record


async def anonymous_answers(
    client: httpx.AsyncClient, session: AsyncSession
) -> list[tuple[str, str, Any]]:
    """(kind, url, body) of every anonymous list page and of the anonymous answer for the id
    of every record a read:confidential key sees (a 404 for what anonymous may not see)."""
    researcher = await factories.api_key(session, "read:confidential")
    answers: list[tuple[str, str, Any]] = []
    for kind in KINDS:
        url: str | None = f"/v1/{kind}?limit=25"
        while url:
            response = await client.get(url)
            assert response.status_code == 200, url
            answers.append((kind, url, response.json()))
            url = response.json()["links"]["next"]
        for record in await records(client, kind, researcher):
            url = f"/v1/{kind}/{record['id']}"
            response = await client.get(url)
            assert response.status_code in (200, 404), url
            answers.append((kind, url, response.json()))
    return answers


def claimant_leaks(kind: str, body: Any, withheld: Withheld) -> list[str]:
    """A claim whose claimant is withheld that names the claimant anyway (in its statement,
    notes or anywhere else), in an anonymous answer about claims."""
    if kind != "claims":
        return []
    records = body["data"] if isinstance(body.get("data"), list) else [body]
    found = []
    for record in records:
        if record.get("id") not in withheld.claimants:
            continue
        text = normalise(" ".join(strings(record)))
        for name in withheld.claimants[record["id"]]:
            if normalise(name) in text:
                found.append(f"the withheld claimant {name!r} of claims/{record['id']}")
    return found


def says_who_not(kind: str, record: Any, withheld: Withheld) -> bool:
    """A claim that withholds its claimant: it serves its quote, without saying who said it."""
    return kind == "claims" and isinstance(record, dict) and record.get("id") in withheld.claimants


async def test_anonymous_answers_repeat_nothing_withheld(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    withheld = await withheld_material(client, session)
    # The seed's accounts are published: anonymous clients are shown every quote, locator,
    # age and date of them, but for who makes the claims of inside sources. Those claims are
    # checked not to name them, and the inside sources' own excerpts of the claims' passages,
    # which would, are withheld with them.
    insiders = {f"testimonies/{claimant}" for claimant, _ in withheld.claimants.values()}
    assert withheld.quotes
    assert set(withheld.quotes.values()) == insiders
    assert set(withheld.locators.values()) == insiders
    assert not withheld.ages
    assert not withheld.notes
    assert not withheld.dates
    assert set(withheld.claimants) == {
        "claim-dailynk-source-eight-hours-every-day",
        "claim-dailynk-source-teenage-girls-polish-gemstones",
    }
    findings: list[str] = []
    for kind, url, body in await anonymous_answers(client, session):
        findings += [f"{url}: {finding}" for finding in claimant_leaks(kind, body, withheld)]
        if isinstance(body.get("data"), list):  # a list page: checked whole, links too
            page = [without_mentions(kind, record) for record in body["data"]]
            body = body | {"data": [r for r in page if not says_who_not(kind, r, withheld)]}
        elif says_who_not(kind, body, withheld):
            continue
        else:
            body = without_mentions(kind, body)
        findings += [f"{url}: {finding}" for finding in leaks(body, withheld)]
    assert not findings, "\n".join(findings)


async def test_facility_mentions_repeat_no_withheld_quote(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    withheld = await withheld_material(client, session)
    findings: list[str] = []
    for kind, url, body in await anonymous_answers(client, session):
        if kind != "facilities":
            continue
        data = body.get("data", body)
        for record in data if isinstance(data, list) else [data]:
            if "citations" in record:
                findings += [f"{url}: {f}" for f in leaks(record["citations"], withheld)]
    assert not findings, "\n".join(findings)

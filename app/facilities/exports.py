"""Facilities as GeoJSON (RFC 7946), besides the CSV and NDJSON every list offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from app.exports.exporter import (
    EXPORT_FORMATS,
    FORMAT_PARAMETER,
    ExportFormat,
    JsonArrayWriter,
    choose_format,
)
from app.views.serving import StoredView


class FacilityListFormat(StrEnum):
    """How the list of facilities answers: `json`, one page in the list envelope; `csv`,
    `ndjson`, `xlsx` or `geojson`, every matching facility."""

    json = "json"
    csv = "csv"
    ndjson = "ndjson"
    xlsx = "xlsx"
    geojson = "geojson"


def feature(record: BaseModel) -> dict[str, Any]:
    """A facility as a GeoJSON Feature: a Point at [longitude, latitude], or no geometry when
    the location is unknown; its other fields as properties, the location's precision as
    `location_precision`."""
    properties = record.model_dump(mode="json", by_alias=True)
    location = properties.pop("location")
    properties["location_precision"] = location["precision"]
    longitude, latitude = location["longitude"], location["latitude"]
    geometry = None
    if longitude is not None and latitude is not None:
        geometry = {"type": "Point", "coordinates": [longitude, latitude]}
    return {
        "type": "Feature",
        "id": properties["id"],
        "geometry": geometry,
        "properties": properties,
    }


class GeoJsonWriter(JsonArrayWriter):
    opening = '{"type":"FeatureCollection","features":['
    closing = "]}\n"

    def items(self, records: Sequence[StoredView[Any]]) -> Iterable[Any]:
        return (feature(record.model) for record in records)


_POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
GEOJSON = ExportFormat(
    label="GeoJSON",
    media_type="application/geo+json",
    extension="geojson",
    writer=lambda _model: GeoJsonWriter(),
    schema={
        "type": "object",
        "description": "Every matching facility as a GeoJSON FeatureCollection (RFC 7946).",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "id", "geometry", "properties"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature"]},
                        "id": {"type": "string"},
                        "geometry": {
                            "description": "A Point at [longitude, latitude]; null when the "
                            "location is unknown.",
                            "anyOf": [
                                {
                                    "type": "object",
                                    "required": ["type", "coordinates"],
                                    "properties": {
                                        "type": {"type": "string", "enum": ["Point"]},
                                        "coordinates": _POSITION,
                                    },
                                },
                                {"type": "null"},
                            ],
                        },
                        "properties": {
                            "type": "object",
                            "description": "The facility's fields (as in the JSON list), "
                            "`location` replaced by `location_precision`.",
                        },
                    },
                },
            },
        },
    },
)
FACILITY_FORMATS: dict[str, ExportFormat] = EXPORT_FORMATS | {"geojson": GEOJSON}


async def facility_list_format(
    request: Request,
    response: Response,
    format: Annotated[FacilityListFormat | None, FORMAT_PARAMETER] = None,
) -> FacilityListFormat:
    return FacilityListFormat(choose_format(request, response, format, FACILITY_FORMATS))


FacilityListFormatDep = Annotated[FacilityListFormat, Depends(facility_list_format)]

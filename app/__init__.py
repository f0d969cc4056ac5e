"""testimony-api: an evidence database and REST API of forced labour in North Korea."""

# The one version: the package's (pyproject.toml reads it), the OpenAPI document's and
# `testimony --version`'s.
__version__ = "1.0.0"
# The licence of the database's records (SPDX), as the OpenAPI document and every release
# manifest state it; the code is Apache-2.0. See LICENSE-data.md.
DATA_LICENSE = "CC-BY-4.0"

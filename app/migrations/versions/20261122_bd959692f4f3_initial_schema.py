"""initial schema

Revision ID: bd959692f4f3
Revises:
Create Date: 2026-11-22 09:12:03.232118
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "bd959692f4f3"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("aliases", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "state_media",
                "state_agency",
                "news_outlet",
                "ngo",
                "government",
                "company",
                "criminal_group",
                "other",
                name="kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_index("ix_organizations_kind", "organizations", ["kind"], unique=False)
    op.create_index("ix_organizations_name_id", "organizations", ["name", "id"], unique=False)
    op.create_index(
        "ix_organizations_updated_at_id", "organizations", ["updated_at", "id"], unique=False
    )
    op.create_table(
        "testimonies",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("witness_pseudonym", sa.Text(), nullable=False),
        sa.Column("pseudonym_is_real_name", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "witness_role",
            sa.Enum(
                "survivor",
                "family_member",
                "eyewitness",
                "former_official",
                "inside_source",
                "other",
                name="witness_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "witness_gender",
            sa.Enum(
                "female",
                "male",
                "other",
                "unknown",
                name="witness_gender",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column("witness_age_at_start", sa.SmallInteger(), nullable=True),
        sa.Column("witness_birth_year", sa.SmallInteger(), nullable=True),
        sa.Column(
            "province",
            sa.Enum(
                "pyongyang",
                "south_pyongan",
                "north_pyongan",
                "chagang",
                "south_hwanghae",
                "north_hwanghae",
                "kangwon",
                "south_hamgyong",
                "north_hamgyong",
                "ryanggang",
                "rason",
                "nampho",
                "kaesong",
                name="province",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("county", sa.Text(), nullable=True),
        sa.Column("labour_types", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "protection_level",
            sa.Enum(
                "public",
                "restricted",
                "confidential",
                name="protection_level",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="restricted",
            nullable=False,
        ),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column(
            "period_start_precision",
            sa.Enum(
                "day",
                "month",
                "year",
                "unknown",
                name="period_start_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column(
            "period_end_precision",
            sa.Enum(
                "day",
                "month",
                "year",
                "unknown",
                name="period_end_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(period_end IS NULL) = (period_end_precision = 'unknown')",
            name=op.f("ck_testimonies_period_end_known"),
        ),
        sa.CheckConstraint(
            "(period_start IS NULL) = (period_start_precision = 'unknown')",
            name=op.f("ck_testimonies_period_start_known"),
        ),
        sa.CheckConstraint(
            "period_start <= period_end", name=op.f("ck_testimonies_period_ordered")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testimonies")),
    )
    op.create_index(
        "ix_testimonies_labour_types",
        "testimonies",
        ["labour_types"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_testimonies_period_asc_id",
        "testimonies",
        [sa.literal_column("coalesce(period_start, '9999-12-30'::date)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_testimonies_period_desc_id",
        "testimonies",
        [sa.literal_column("coalesce(period_start, '0001-01-02'::date)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_testimonies_period_lower",
        "testimonies",
        [sa.literal_column("coalesce(period_start, period_end)")],
        unique=False,
    )
    op.create_index(
        "ix_testimonies_period_upper",
        "testimonies",
        [sa.literal_column("coalesce(period_end, period_start)")],
        unique=False,
    )
    op.create_index(
        "ix_testimonies_protection_level", "testimonies", ["protection_level"], unique=False
    )
    op.create_index("ix_testimonies_province", "testimonies", ["province"], unique=False)
    op.create_index(
        "ix_testimonies_updated_at_id", "testimonies", ["updated_at", "id"], unique=False
    )
    op.create_index("ix_testimonies_witness_role", "testimonies", ["witness_role"], unique=False)
    op.create_table(
        "facilities",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "facility_type",
            sa.Enum(
                "coal_mine",
                "mine",
                "political_prison_camp",
                "reeducation_camp",
                "labour_camp",
                "factory",
                "farm",
                "forestry_site",
                "construction_site",
                "school",
                "other",
                name="facility_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "province",
            sa.Enum(
                "pyongyang",
                "south_pyongan",
                "north_pyongan",
                "chagang",
                "south_hwanghae",
                "north_hwanghae",
                "kangwon",
                "south_hamgyong",
                "north_hamgyong",
                "ryanggang",
                "rason",
                "nampho",
                "kaesong",
                name="province",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("county", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=8, scale=5), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=8, scale=5), nullable=True),
        sa.Column(
            "location_precision",
            sa.Enum(
                "exact",
                "approximate",
                "settlement",
                "province",
                "unknown",
                name="location_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column("operator_id", sa.String(length=120), nullable=True),
        sa.Column("products", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(latitude IS NULL) = (location_precision = 'unknown')",
            name=op.f("ck_facilities_location_known"),
        ),
        sa.CheckConstraint(
            "(latitude IS NULL) = (longitude IS NULL)", name=op.f("ck_facilities_coordinates_pair")
        ),
        sa.CheckConstraint(
            "latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180",
            name=op.f("ck_facilities_coordinates_range"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["organizations.id"],
            name=op.f("fk_facilities_operator_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
    )
    op.create_index("ix_facilities_facility_type", "facilities", ["facility_type"], unique=False)
    op.create_index(
        "ix_facilities_has_location",
        "facilities",
        ["id"],
        unique=False,
        postgresql_where="latitude IS NOT NULL",
    )
    op.create_index("ix_facilities_name_id", "facilities", ["name", "id"], unique=False)
    op.create_index("ix_facilities_operator_id", "facilities", ["operator_id"], unique=False)
    op.create_index("ix_facilities_province", "facilities", ["province"], unique=False)
    op.create_index("ix_facilities_updated_at_id", "facilities", ["updated_at", "id"], unique=False)
    op.create_table(
        "sources",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("publisher_id", sa.String(length=120), nullable=True),
        sa.Column("authors", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "source_type",
            sa.Enum(
                "news_report",
                "ngo_report",
                "state_media_report",
                "government_report",
                "defector_account",
                "social_media_post",
                "other",
                name="source_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("published_until", sa.Date(), nullable=True),
        sa.Column(
            "published_precision",
            sa.Enum(
                "day",
                "month",
                "year",
                "unknown",
                name="published_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=35), server_default="en", nullable=False),
        sa.Column("accessed_on", sa.Date(), nullable=True),
        sa.Column("archived_text", sa.Text(), nullable=True),
        sa.Column("archive_sha256", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(published_on IS NULL) = (published_precision = 'unknown')",
            name=op.f("ck_sources_published_known"),
        ),
        sa.CheckConstraint(
            "archive_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_sources_archive_sha256_hex")
        ),
        sa.CheckConstraint(
            "(published_until IS NULL) = (published_on IS NULL) AND published_on <= published_until",
            name=op.f("ck_sources_published_span"),
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["organizations.id"],
            name=op.f("fk_sources_publisher_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("url", name=op.f("uq_sources_url")),
    )
    op.create_index("ix_sources_language", "sources", ["language"], unique=False)
    op.create_index(
        "ix_sources_published_asc_id",
        "sources",
        [sa.literal_column("coalesce(published_on, '9999-12-30'::date)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_sources_published_desc_id",
        "sources",
        [sa.literal_column("coalesce(published_on, '0001-01-02'::date)"), "id"],
        unique=False,
    )
    op.create_index("ix_sources_published_on", "sources", ["published_on"], unique=False)
    op.create_index("ix_sources_published_until", "sources", ["published_until"], unique=False)
    op.create_index("ix_sources_publisher_id", "sources", ["publisher_id"], unique=False)
    op.create_index("ix_sources_source_type", "sources", ["source_type"], unique=False)
    op.create_index("ix_sources_title_id", "sources", ["title", "id"], unique=False)
    op.create_index("ix_sources_updated_at_id", "sources", ["updated_at", "id"], unique=False)
    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column(
            "metric",
            sa.Enum(
                "persons_count",
                "deaths",
                "survivors",
                "age_years",
                "wage",
                "working_hours_per_day",
                "trade_share",
                "facility_count",
                "population",
                "duration_years",
                "money_amount",
                "year",
                "other",
                name="metric",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.Column("value_min", sa.Numeric(), nullable=True),
        sa.Column("value_max", sa.Numeric(), nullable=True),
        sa.Column(
            "unit",
            sa.Enum(
                "persons",
                "years",
                "hours_per_day",
                "KPW_per_month",
                "percent",
                "facilities",
                "USD",
                "calendar_year",
                "other",
                name="unit",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "approximation",
            sa.Enum(
                "exact",
                "approximate",
                "estimate",
                "at_least",
                "at_most",
                "vague",
                name="approximation",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("claimant_organization_id", sa.String(length=120), nullable=True),
        sa.Column("claimant_testimony_id", sa.String(length=120), nullable=True),
        sa.Column(
            "stance",
            sa.Enum(
                "asserts",
                "denies",
                "disputes",
                name="stance",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("about_facility_id", sa.String(length=120), nullable=True),
        sa.Column("about_testimony_id", sa.String(length=120), nullable=True),
        sa.Column("about_organization_id", sa.String(length=120), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source_id", sa.String(length=120), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=True),
        sa.Column("char_end", sa.Integer(), nullable=True),
        sa.Column("relayed_from_id", sa.String(length=120), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column(
            "period_start_precision",
            sa.Enum(
                "day",
                "month",
                "year",
                "unknown",
                name="period_start_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column(
            "period_end_precision",
            sa.Enum(
                "day",
                "month",
                "year",
                "unknown",
                name="period_end_precision",
                native_enum=False,
                create_constraint=True,
            ),
            server_default="unknown",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(period_end IS NULL) = (period_end_precision = 'unknown')",
            name=op.f("ck_claims_period_end_known"),
        ),
        sa.CheckConstraint(
            "(period_start IS NULL) = (period_start_precision = 'unknown')",
            name=op.f("ck_claims_period_start_known"),
        ),
        sa.CheckConstraint(
            "(char_start IS NULL) = (char_end IS NULL) AND char_start >= 0 AND char_end > char_start",
            name=op.f("ck_claims_locator"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(claimant_organization_id, claimant_testimony_id) = 1",
            name=op.f("ck_claims_one_claimant"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(value, value_min, value_max) >= 1", name=op.f("ck_claims_has_value")
        ),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_claims_period_ordered")),
        sa.CheckConstraint(
            "value_min <= value AND value <= value_max AND value_min <= value_max",
            name=op.f("ck_claims_value_range"),
        ),
        sa.ForeignKeyConstraint(
            ["about_facility_id"],
            ["facilities.id"],
            name=op.f("fk_claims_about_facility_id_facilities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["about_organization_id"],
            ["organizations.id"],
            name=op.f("fk_claims_about_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["about_testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_claims_about_testimony_id_testimonies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["claimant_organization_id"],
            ["organizations.id"],
            name=op.f("fk_claims_claimant_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["claimant_testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_claims_claimant_testimony_id_testimonies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["relayed_from_id"],
            ["sources.id"],
            name=op.f("fk_claims_relayed_from_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_claims_source_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    op.create_index("ix_claims_about_facility_id", "claims", ["about_facility_id"], unique=False)
    op.create_index(
        "ix_claims_about_organization_id", "claims", ["about_organization_id"], unique=False
    )
    op.create_index("ix_claims_about_testimony_id", "claims", ["about_testimony_id"], unique=False)
    op.create_index(
        "ix_claims_claimant_organization_id", "claims", ["claimant_organization_id"], unique=False
    )
    op.create_index(
        "ix_claims_claimant_testimony_id", "claims", ["claimant_testimony_id"], unique=False
    )
    op.create_index("ix_claims_metric", "claims", ["metric"], unique=False)
    op.create_index(
        "ix_claims_period_asc_id",
        "claims",
        [sa.literal_column("coalesce(period_start, '9999-12-30'::date)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_claims_period_desc_id",
        "claims",
        [sa.literal_column("coalesce(period_start, '0001-01-02'::date)"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_claims_period_lower",
        "claims",
        [sa.literal_column("coalesce(period_start, period_end)")],
        unique=False,
    )
    op.create_index(
        "ix_claims_period_upper",
        "claims",
        [sa.literal_column("coalesce(period_end, period_start)")],
        unique=False,
    )
    op.create_index(op.f("ix_claims_relayed_from_id"), "claims", ["relayed_from_id"], unique=False)
    op.create_index(op.f("ix_claims_source_id"), "claims", ["source_id"], unique=False)
    op.create_index("ix_claims_stance", "claims", ["stance"], unique=False)
    op.create_index("ix_claims_unit", "claims", ["unit"], unique=False)
    op.create_index("ix_claims_updated_at_id", "claims", ["updated_at", "id"], unique=False)
    op.create_index("ix_claims_value_max", "claims", ["value_max"], unique=False)
    op.create_index("ix_claims_value_min", "claims", ["value_min"], unique=False)
    op.create_index(
        "ix_claims_value_sort_id",
        "claims",
        [sa.literal_column("coalesce(value, value_min, value_max)"), "id"],
        unique=False,
    )
    op.create_table(
        "facility_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=3), nullable=False),
        sa.Column(
            "script",
            sa.Enum(
                "hangul",
                "mccune_reischauer",
                "revised_romanization",
                "english_translation",
                "other",
                name="script",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_facility_aliases_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_aliases")),
    )
    op.create_index(
        "ix_facility_aliases_facility_id", "facility_aliases", ["facility_id"], unique=False
    )
    op.create_table(
        "facility_mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=120), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=True),
        sa.Column("char_end", sa.Integer(), nullable=True),
        sa.Column("relayed_from_id", sa.String(length=120), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(char_start IS NULL) = (char_end IS NULL) AND char_start >= 0 AND char_end > char_start",
            name=op.f("ck_facility_mentions_locator"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_facility_mentions_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["relayed_from_id"],
            ["sources.id"],
            name=op.f("fk_facility_mentions_relayed_from_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_facility_mentions_source_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_mentions")),
    )
    op.create_index(
        op.f("ix_facility_mentions_facility_id"), "facility_mentions", ["facility_id"], unique=False
    )
    op.create_index(
        op.f("ix_facility_mentions_relayed_from_id"),
        "facility_mentions",
        ["relayed_from_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_facility_mentions_source_id"), "facility_mentions", ["source_id"], unique=False
    )
    op.create_table(
        "source_relays",
        sa.Column("relaying_source_id", sa.String(length=120), nullable=False),
        sa.Column("relayed_source_id", sa.String(length=120), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "relaying_source_id <> relayed_source_id", name=op.f("ck_source_relays_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["relayed_source_id"],
            ["sources.id"],
            name=op.f("fk_source_relays_relayed_source_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["relaying_source_id"],
            ["sources.id"],
            name=op.f("fk_source_relays_relaying_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "relaying_source_id", "relayed_source_id", name=op.f("pk_source_relays")
        ),
    )
    op.create_index(
        "ix_source_relays_relayed_source_id", "source_relays", ["relayed_source_id"], unique=False
    )
    op.create_table(
        "testimony_excerpts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("testimony_id", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=120), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("char_start", sa.Integer(), nullable=True),
        sa.Column("char_end", sa.Integer(), nullable=True),
        sa.Column("relayed_from_id", sa.String(length=120), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(char_start IS NULL) = (char_end IS NULL) AND char_start >= 0 AND char_end > char_start",
            name=op.f("ck_testimony_excerpts_locator"),
        ),
        sa.ForeignKeyConstraint(
            ["relayed_from_id"],
            ["sources.id"],
            name=op.f("fk_testimony_excerpts_relayed_from_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_testimony_excerpts_source_id_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_testimony_excerpts_testimony_id_testimonies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testimony_excerpts")),
    )
    op.create_index(
        op.f("ix_testimony_excerpts_relayed_from_id"),
        "testimony_excerpts",
        ["relayed_from_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_testimony_excerpts_source_id"), "testimony_excerpts", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_testimony_excerpts_testimony_id"),
        "testimony_excerpts",
        ["testimony_id"],
        unique=False,
    )
    op.create_table(
        "testimony_facilities",
        sa.Column("testimony_id", sa.String(length=120), nullable=False),
        sa.Column("facility_id", sa.String(length=120), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_testimony_facilities_facility_id_facilities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_testimony_facilities_testimony_id_testimonies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "testimony_id", "facility_id", name=op.f("pk_testimony_facilities")
        ),
    )
    op.create_index(
        op.f("ix_testimony_facilities_facility_id"),
        "testimony_facilities",
        ["facility_id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_testimony_facilities_facility_id"), table_name="testimony_facilities")
    op.drop_table("testimony_facilities")
    op.drop_index(op.f("ix_testimony_excerpts_testimony_id"), table_name="testimony_excerpts")
    op.drop_index(op.f("ix_testimony_excerpts_source_id"), table_name="testimony_excerpts")
    op.drop_index(op.f("ix_testimony_excerpts_relayed_from_id"), table_name="testimony_excerpts")
    op.drop_table("testimony_excerpts")
    op.drop_index("ix_source_relays_relayed_source_id", table_name="source_relays")
    op.drop_table("source_relays")
    op.drop_index(op.f("ix_facility_mentions_source_id"), table_name="facility_mentions")
    op.drop_index(op.f("ix_facility_mentions_relayed_from_id"), table_name="facility_mentions")
    op.drop_index(op.f("ix_facility_mentions_facility_id"), table_name="facility_mentions")
    op.drop_table("facility_mentions")
    op.drop_index("ix_facility_aliases_facility_id", table_name="facility_aliases")
    op.drop_table("facility_aliases")
    op.drop_index("ix_claims_value_sort_id", table_name="claims")
    op.drop_index("ix_claims_value_min", table_name="claims")
    op.drop_index("ix_claims_value_max", table_name="claims")
    op.drop_index("ix_claims_updated_at_id", table_name="claims")
    op.drop_index("ix_claims_unit", table_name="claims")
    op.drop_index("ix_claims_stance", table_name="claims")
    op.drop_index(op.f("ix_claims_source_id"), table_name="claims")
    op.drop_index(op.f("ix_claims_relayed_from_id"), table_name="claims")
    op.drop_index("ix_claims_period_upper", table_name="claims")
    op.drop_index("ix_claims_period_lower", table_name="claims")
    op.drop_index("ix_claims_period_desc_id", table_name="claims")
    op.drop_index("ix_claims_period_asc_id", table_name="claims")
    op.drop_index("ix_claims_metric", table_name="claims")
    op.drop_index("ix_claims_claimant_testimony_id", table_name="claims")
    op.drop_index("ix_claims_claimant_organization_id", table_name="claims")
    op.drop_index("ix_claims_about_testimony_id", table_name="claims")
    op.drop_index("ix_claims_about_organization_id", table_name="claims")
    op.drop_index("ix_claims_about_facility_id", table_name="claims")
    op.drop_table("claims")
    op.drop_index("ix_sources_updated_at_id", table_name="sources")
    op.drop_index("ix_sources_title_id", table_name="sources")
    op.drop_index("ix_sources_source_type", table_name="sources")
    op.drop_index("ix_sources_publisher_id", table_name="sources")
    op.drop_index("ix_sources_published_until", table_name="sources")
    op.drop_index("ix_sources_published_on", table_name="sources")
    op.drop_index("ix_sources_published_desc_id", table_name="sources")
    op.drop_index("ix_sources_published_asc_id", table_name="sources")
    op.drop_index("ix_sources_language", table_name="sources")
    op.drop_table("sources")
    op.drop_index("ix_facilities_updated_at_id", table_name="facilities")
    op.drop_index("ix_facilities_province", table_name="facilities")
    op.drop_index("ix_facilities_operator_id", table_name="facilities")
    op.drop_index("ix_facilities_name_id", table_name="facilities")
    op.drop_index(
        "ix_facilities_has_location",
        table_name="facilities",
        postgresql_where="latitude IS NOT NULL",
    )
    op.drop_index("ix_facilities_facility_type", table_name="facilities")
    op.drop_table("facilities")
    op.drop_index("ix_testimonies_witness_role", table_name="testimonies")
    op.drop_index("ix_testimonies_updated_at_id", table_name="testimonies")
    op.drop_index("ix_testimonies_province", table_name="testimonies")
    op.drop_index("ix_testimonies_protection_level", table_name="testimonies")
    op.drop_index("ix_testimonies_period_upper", table_name="testimonies")
    op.drop_index("ix_testimonies_period_lower", table_name="testimonies")
    op.drop_index("ix_testimonies_period_desc_id", table_name="testimonies")
    op.drop_index("ix_testimonies_period_asc_id", table_name="testimonies")
    op.drop_index("ix_testimonies_labour_types", table_name="testimonies", postgresql_using="gin")
    op.drop_table("testimonies")
    op.drop_index("ix_organizations_updated_at_id", table_name="organizations")
    op.drop_index("ix_organizations_name_id", table_name="organizations")
    op.drop_index("ix_organizations_kind", table_name="organizations")
    op.drop_table("organizations")

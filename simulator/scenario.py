"""Scenario files: TOML, validated strictly, turned into a Catalog.

A scenario file describes the simulated back office. Today it holds the catalog
(partners, admissions, items); the format leaves room beside `catalog` for more
sections (API keys, namespaces, fault rules), each validated as strictly.
"""
from __future__ import annotations

import tomllib
from datetime import timezone
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from simulator.catalog import Admission, Catalog, Component, Item, Partner, Slot
from simulator.clock import EARLIEST, LATEST
from simulator.faults import ISSUING, OPERATIONS, TRANSPORT_FAULTS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ITEM_KINDS = ("ticket", "group", "package", "coupon")
MAX_TICKETS_PER_PACKAGE_WALLET = 9
COUPON_PATTERN = "CPN-##########"  # the real issuer encodes at most 9 tickets per wallet


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass
class Scenario:
    path: Path | str
    description: str
    catalog: dict  # the validated [catalog] section; build_catalog combines them
    api_keys: list[dict] = field(default_factory=list)
    namespaces: dict = field(default_factory=dict)
    limits: dict | None = None
    clock: dict | None = None
    faults: list[dict] = field(default_factory=list)  # validated rule data; rules are made per load
    ota: dict | None = None
    webhooks: dict | None = None


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class PartnerSchema(StrictSchema):
    id = fields.UUID(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    active = fields.Boolean(load_default=True)
    manifests = fields.Boolean(load_default=False)
    manifest_template = fields.String(load_default="default", validate=validate.Length(min=1, max=40))
    ota = fields.Boolean(load_default=False)

    @post_load
    def make(self, data, **kwargs):
        return Partner(partner_id=str(data.pop("id")), **data)


class SlotSchema(StrictSchema):
    start = fields.Time(required=True)
    end = fields.Time(required=True)
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))

    @validates_schema
    def end_after_start(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError("end must be after start", "end")

    @post_load
    def make(self, data, **kwargs):
        return Slot(**data)


class AdmissionSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_-]{1,20}$"))
    description = fields.String(load_default="")
    days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=list(WEEKDAYS))
    slots = fields.List(fields.Nested(SlotSchema), required=True, validate=validate.Length(min=1))
    closed_dates = fields.List(fields.Date(), load_default=list)

    @post_load
    def make(self, data, **kwargs):
        return Admission(
            code=data["code"],
            description=data["description"],
            weekdays=frozenset(WEEKDAYS.index(day) for day in data["days"]),
            slots=tuple(sorted(data["slots"], key=lambda slot: slot.start)),
            closed_dates=frozenset(data["closed_dates"]),
        )


class ComponentSchema(StrictSchema):
    item = fields.String(required=True)
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))


class ItemSchema(StrictSchema):
    number = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_-]{1,20}$"))
    description = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    admission = fields.String()
    price_excl_vat = fields.Float(validate=validate.Range(min=0))
    price_incl_vat = fields.Float(validate=validate.Range(min=0))
    components = fields.List(fields.Nested(ComponentSchema))
    ticket_number_pattern = fields.String(validate=validate.Regexp(r"^[A-Z0-9#?-]{4,30}$"))

    @validates_schema
    def kind_fields(self, data, **kwargs):
        if data["kind"] == "package":
            if not data.get("components"):
                raise ValidationError("a package needs components", "components")
            for key in ("admission", "price_excl_vat", "price_incl_vat", "ticket_number_pattern"):
                if key in data:
                    raise ValidationError("not allowed on a package (its components carry it)", key)
            tickets = sum(component["quantity"] for component in data["components"])
            if tickets > MAX_TICKETS_PER_PACKAGE_WALLET:
                raise ValidationError(
                    f"a package wallet holds at most {MAX_TICKETS_PER_PACKAGE_WALLET} tickets", "components"
                )
        elif data["kind"] == "coupon":
            for key in ("admission", "components"):
                if key in data:
                    raise ValidationError("not allowed on a coupon", key)
        else:
            if "admission" not in data:
                raise ValidationError("required for a ticket or group item", "admission")
            if "components" in data:
                raise ValidationError("only a package has components", "components")
            if "price_excl_vat" not in data and "price_incl_vat" not in data:
                raise ValidationError("give price_excl_vat, price_incl_vat or both", "price_excl_vat")


class CatalogSchema(StrictSchema):
    @validates_schema
    def unique_keys(self, data, **kwargs):
        _unique(data.get("partners", []), lambda partner: partner.partner_id, "partners")
        _unique(data.get("admissions", []), lambda admission: admission.code, "admissions")
        _unique(data.get("items", []), lambda item: item["number"], "items")

    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    vat_percent = fields.Float(validate=validate.Range(min=0, max=100))
    ticket_number_pattern = fields.String(validate=validate.Regexp(r"^[A-Z0-9#?-]{4,30}$"))
    partners = fields.List(fields.Nested(PartnerSchema))
    admissions = fields.List(fields.Nested(AdmissionSchema))
    items = fields.List(fields.Nested(ItemSchema))


class ApiKeySchema(StrictSchema):
    key = fields.String(required=True, validate=validate.Length(min=1))
    channel_manager = fields.Boolean(load_default=True)  # holds the "NPR API Channel Mgr" permission set


class NamespacesSchema(StrictSchema):
    """Restrict which tenants, environments and companies exist (each list is optional)."""

    tenants = fields.List(fields.String(validate=validate.Length(min=1)))
    environments = fields.List(fields.String(validate=validate.Length(min=1)))
    companies = fields.List(fields.String(validate=validate.Length(min=1)))


class LimitsSchema(StrictSchema):
    """The gateway's limits (api-facts 2.8): 5 processing, 95 queued, 8 minutes in the queue,
    6000 requests per 5-minute sliding window."""

    max_concurrent = fields.Integer(load_default=5, strict=True, validate=validate.Range(min=1))
    max_queued = fields.Integer(load_default=95, strict=True, validate=validate.Range(min=0))
    queue_timeout_seconds = fields.Float(load_default=480, validate=validate.Range(min=0))
    requests_per_window = fields.Integer(load_default=6000, strict=True, validate=validate.Range(min=1))
    window_seconds = fields.Float(load_default=300, validate=validate.Range(min=1))


class ClockSchema(StrictSchema):
    now = fields.AwareDateTime(required=True, format="iso", default_timezone=timezone.utc,
                               validate=validate.Range(min=EARLIEST, max=LATEST))
    frozen = fields.Boolean(load_default=False)


MAX_LATENCY_MS = 600_000  # ten minutes
MAX_HANG_SECONDS = 600


class LatencySchema(StrictSchema):
    distribution = fields.String(required=True, validate=validate.OneOf(["uniform", "lognormal"]))
    min_ms = fields.Float(validate=validate.Range(min=0, max=MAX_LATENCY_MS))
    max_ms = fields.Float(validate=validate.Range(min=0, max=MAX_LATENCY_MS))
    median_ms = fields.Float(validate=validate.Range(min=0.001, max=MAX_LATENCY_MS))
    sigma = fields.Float(load_default=0.5, validate=validate.Range(min=0, max=3))

    @validates_schema
    def parameters(self, data, **kwargs):
        needed = ("min_ms", "max_ms") if data["distribution"] == "uniform" else ("median_ms",)
        for key in needed:
            if key not in data:
                raise ValidationError(f"required for a {data['distribution']} distribution", key)
        if data["distribution"] == "uniform" and data["min_ms"] > data["max_ms"]:
            raise ValidationError("must not be above max_ms", "min_ms")


class FaultSchema(StrictSchema):
    id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,60}$"))
    description = fields.String(load_default="")
    # what the rule matches
    operation = fields.String(validate=validate.OneOf(OPERATIONS))
    tenant = fields.String()
    environment = fields.String()
    company = fields.String()
    partner = fields.UUID()
    reference = fields.String(validate=validate.Length(min=1, max=50))  # a glob: * and ?
    item = fields.String()
    nth = fields.Integer(strict=True, validate=validate.Range(min=1))
    probability = fields.Float(validate=validate.Range(min=0, max=1))
    seed = fields.Integer(strict=True)
    times = fields.Integer(strict=True, validate=validate.Range(min=1))
    # what it makes happen: exactly one
    fail_issuance = fields.String(validate=validate.Length(min=1))
    reject = fields.String(validate=validate.Length(min=1))
    fail_confirm = fields.String(validate=validate.Length(min=1))
    stick_in_processing = fields.Boolean(validate=validate.Equal(True))
    respond = fields.Integer(strict=True, validate=validate.OneOf([429, 503]))
    latency_ms = fields.Float(validate=validate.Range(min=0, max=MAX_LATENCY_MS))
    latency = fields.Nested(LatencySchema)
    transport = fields.String(validate=validate.OneOf(TRANSPORT_FAULTS))
    lose_response = fields.String(validate=validate.OneOf(TRANSPORT_FAULTS))
    hang_seconds = fields.Float(validate=validate.Range(min=0, max=MAX_HANG_SECONDS))

    @validates_schema
    def one_outcome(self, data, **kwargs):
        given = [key for key in OUTCOMES if key in data]
        if len(given) != 1:
            raise ValidationError(f"give exactly one outcome of: {', '.join(OUTCOMES)}")
        allowed = OUTCOME_OPERATIONS.get(given[0])
        if allowed and data.get("operation", allowed[0]) not in allowed:
            raise ValidationError(f"{given[0]} applies to {' and '.join(allowed)} only", "operation")


OUTCOMES = ("fail_issuance", "reject", "fail_confirm", "stick_in_processing", "respond", "latency_ms", "latency",
            "transport", "lose_response")
OUTCOME_OPERATIONS = {"fail_issuance": ISSUING, "reject": ISSUING, "stick_in_processing": ISSUING,
                      "fail_confirm": ("confirm",)}


class OtaSchema(StrictSchema):
    """The asynchronous OTA Channel Manager mode."""

    all_partners = fields.Boolean(load_default=False)  # else only partners with ota = true
    cadence_seconds = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=3600))  # 0: by hand only


class WebhooksSchema(StrictSchema):
    """How webhook deliveries behave (simulator additions: retries, faults, a signature)."""

    retry_seconds = fields.List(fields.Float(validate=validate.Range(min=0, max=3600)), load_default=lambda: [1, 2, 4, 8, 16])
    timeout_seconds = fields.Float(load_default=5, validate=validate.Range(min=0.1, max=60))
    signing_secret = fields.String(load_default="")
    drop = fields.Float(load_default=0, validate=validate.Range(min=0, max=1))  # probability a delivery is lost
    duplicate = fields.Float(load_default=0, validate=validate.Range(min=0, max=1))  # ... is sent twice
    delay_ms = fields.Float(load_default=0, validate=validate.Range(min=0, max=600_000))
    out_of_order = fields.Boolean(load_default=False)  # hold each delivery until the next one is sent first
    seed = fields.Integer(strict=True)


class ScenarioSchema(StrictSchema):
    description = fields.String(load_default="")
    catalog = fields.Nested(CatalogSchema, load_default=dict)
    api_keys = fields.List(fields.Nested(ApiKeySchema), load_default=list)
    namespaces = fields.Nested(NamespacesSchema, load_default=dict)
    limits = fields.Nested(LimitsSchema)
    clock = fields.Nested(ClockSchema)
    faults = fields.List(fields.Nested(FaultSchema), load_default=list)
    ota = fields.Nested(OtaSchema)
    webhooks = fields.Nested(WebhooksSchema)


def build_catalog(scenarios: list[Scenario]) -> Catalog:
    """Lay the scenarios' catalogs over each other (a later entry with the same key wins)
    and check that every reference between entries resolves."""
    settings = {"currency": "DKK", "vat_percent": 25, "ticket_number_pattern": "ATF-BIL######?-#"}
    partners, admissions, items = {}, {}, {}
    for scenario in scenarios:
        section = scenario.catalog
        settings.update({key: section[key] for key in settings if key in section})
        for index, partner in enumerate(section.get("partners", [])):
            partners[partner.partner_id] = partner
        for index, admission in enumerate(section.get("admissions", [])):
            admissions[admission.code] = admission
        for index, item in enumerate(section.get("items", [])):
            items[item["number"]] = (scenario.path, index, item)
    catalog = Catalog(currency=settings["currency"], partners=partners, admissions=admissions)
    vat = settings["vat_percent"] / 100
    for path, index, raw in items.values():
        try:
            catalog.items[raw["number"]] = _item(raw, index, catalog, vat, settings["ticket_number_pattern"])
        except ValidationError as error:
            raise ScenarioError(f"{path}: {_describe(error)}") from None
    for path, index, raw in items.values():
        for position, component in enumerate(raw.get("components", [])):
            target = catalog.items.get(component["item"])
            if target is None or target.is_package:
                raise ScenarioError(
                    f"{path}: catalog.items.{index}.components.{position}.item: "
                    f"'{component['item']}' is not a ticket or coupon item of the catalog"
                )
    return catalog


def _item(raw: dict, index: int, catalog: Catalog, vat: float, default_pattern: str) -> Item:
    if raw["kind"] == "package":
        components = tuple(Component(c["item"], c["quantity"]) for c in raw["components"])
        return Item(raw["number"], raw["description"], "package", components=components)
    if raw["kind"] == "coupon":
        excl = raw.get("price_excl_vat", 0)
        return Item(raw["number"], raw["description"], "coupon", price_excl_vat=excl,
                    price_incl_vat=raw.get("price_incl_vat", round(excl * (1 + vat), 2)),
                    ticket_number_pattern=raw.get("ticket_number_pattern", COUPON_PATTERN))
    if raw["admission"] not in catalog.admissions:
        raise ValidationError(f"unknown admission '{raw['admission']}'", f"catalog.items.{index}.admission")
    excl = raw.get("price_excl_vat")
    incl = raw.get("price_incl_vat")
    if excl is None:
        excl = round(incl / (1 + vat), 2)
    if incl is None:
        incl = round(excl * (1 + vat), 2)
    return Item(
        raw["number"],
        raw["description"],
        raw["kind"],
        price_excl_vat=excl,
        price_incl_vat=incl,
        admission_code=raw["admission"],
        ticket_number_pattern=raw.get("ticket_number_pattern", default_pattern),
    )


def _unique(entries: list, key, path: str) -> None:
    seen = set()
    for index, entry in enumerate(entries):
        value = key(entry)
        if value in seen:
            raise ValidationError(f"duplicate '{value}'", f"{path}.{index}")
        seen.add(value)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; raise ScenarioError naming the file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot be read ({error.strerror})") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, name: str | Path = "scenario") -> Scenario:
    """Validate scenario text (TOML); `name` is what error messages call it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{name}: not valid TOML ({error})") from None
    return scenario_from_data(raw, name)


def validate_faults(rules: list, name: str = "request") -> list[dict]:
    """Validate fault rules given on their own (as the control API receives them)."""
    try:
        return FaultSchema(many=True).load(rules)
    except ValidationError as error:
        raise ScenarioError(f"{name}: {_describe(error)}") from None


def scenario_from_data(raw: dict, name: str | Path = "scenario") -> Scenario:
    try:
        data = ScenarioSchema().load(raw)
    except ValidationError as error:
        raise ScenarioError(f"{name}: {_describe(error)}") from None
    faults = [{**rule, "id": rule.get("id", f"{Path(str(name)).stem}-{index + 1}")} for index, rule in enumerate(data["faults"])]
    return Scenario(
        path=name,
        description=data["description"],
        catalog=data["catalog"],
        api_keys=data["api_keys"],
        namespaces=data["namespaces"],
        limits=data.get("limits"),
        clock=data.get("clock"),
        faults=faults,
        ota=data.get("ota"),
        webhooks=data.get("webhooks"),
    )


def default_scenario_path() -> Path:
    """The default catalog that `cm-sim serve` uses with no --scenario."""
    package = Path(__file__).resolve().parent
    in_checkout = package.parent / "scenarios" / "default.toml"
    return in_checkout if in_checkout.exists() else package / "scenarios" / "default.toml"


def _describe(error: ValidationError) -> str:
    """Flatten marshmallow's nested messages into `key.path: message` text."""
    found: list[str] = []

    def walk(messages, prefix):
        if isinstance(messages, dict):
            for key, value in messages.items():
                if key == "_schema":
                    walk(value, prefix)
                else:
                    walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
            found.append(f"{prefix or 'file'}: {' '.join(messages)}")
        else:
            for position, value in enumerate(messages):
                walk(value, f"{prefix}.{position}")

    walk(error.messages if error.field_name == "_schema" else {error.field_name: error.messages}, "")
    return "; ".join(found)


"""Scenario files: TOML, validated strictly (marshmallow), each error naming the file and the key.

A scenario describes the simulated back office: its catalog (partners, admissions, items),
API keys, namespaces, the gateway's limits, the clock, fault rules, the OTA mode and webhook
deliveries. Several are laid over each other (build_catalog for the catalogs); also here:
which scenario files the control API may read, and the bounds on data from outside.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from simulator.catalog import Admission, Catalog, Component, Item, ItemKind, Partner, Slot
from simulator.clock import EARLIEST, LATEST
from simulator.faults import OPERATIONS
from simulator.outcomes import MAX_DELAY_MS, MAX_TEXT, check_outcome, outcome_fields

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_TICKETS_PER_PACKAGE_WALLET = 9  # the real issuer encodes at most 9 tickets per wallet
COUPON_PATTERN = "CPN-##########"
MAX_NESTING = 32  # levels of tables and arrays in a scenario, a rule or an import
LARGEST_WHOLE_NUMBER = 2**63 - 1
MAX_SCENARIO_BYTES = 32 * 1024 * 1024  # what the server takes as a request body
RULE_ID = r"^[A-Za-z0-9_.-]{1,60}$"
MAX_COUNT = 1_000_000_000  # nth and times
MAX_NAME = 250  # characters of a name a rule matches on
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# a lone surrogate in JSON bytes, escaped (\ud800) or as raw UTF-8-style bytes (ED A0 80), which json.loads lets through
JSON_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
# an escaped surrogate in TOML text (invalid TOML): a \uD800-style escape not itself escaped
ESCAPED_SURROGATE = re.compile(
    r"(?<!\\)((?:\\\\)*)\\(?:u[dD][89a-fA-F][0-9a-fA-F]{2}|U0000[dD][89a-fA-F][0-9a-fA-F]{2})"
)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class GatewayLimits:
    """[limits]: the gateway's limits (see LimitsSchema)."""

    max_concurrent: int
    max_queued: int
    queue_timeout_seconds: float
    requests_per_window: int
    window_seconds: float


@dataclass(frozen=True)
class ClockSetting:
    """[clock]: where the simulator's clock starts."""

    now: datetime
    frozen: bool


@dataclass(frozen=True)
class OtaSettings:
    """[ota]: the asynchronous OTA Channel Manager mode."""

    all_partners: bool
    cadence_seconds: float


@dataclass(frozen=True)
class WebhookSettings:
    """[webhooks]: how webhook deliveries behave (the defaults: WEBHOOK_DEFAULTS)."""

    retry_seconds: tuple[float, ...]
    timeout_seconds: float
    signing_secret: str
    drop: float
    duplicate: float
    delay_ms: float
    out_of_order: bool
    seed: int | None = None  # None: unseeded


@dataclass
class Scenario:
    path: Path | str
    description: str
    catalog: dict  # the validated [catalog] section; build_catalog combines them
    api_keys: list[dict] = field(default_factory=list)
    namespaces: dict = field(default_factory=dict)
    limits: GatewayLimits | None = None
    clock: ClockSetting | None = None
    faults: list[dict] = field(default_factory=list)  # validated rule data; rules are made per load
    ota: OtaSettings | None = None
    webhooks: WebhookSettings | None = None


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
    kind = fields.String(required=True, validate=validate.OneOf([kind.value for kind in ItemKind]))
    admission = fields.String()
    price_excl_vat = fields.Float(validate=validate.Range(min=0))
    price_incl_vat = fields.Float(validate=validate.Range(min=0))
    components = fields.List(fields.Nested(ComponentSchema))
    ticket_number_pattern = fields.String(validate=validate.Regexp(r"^[A-Z0-9#?-]{4,30}$"))

    @validates_schema
    def kind_fields(self, data, **kwargs):
        kind = ItemKind(data["kind"])
        if kind.has_components:
            if not data.get("components"):
                raise ValidationError(f"a {kind} needs components", "components")
            for key in ("admission", "price_excl_vat", "price_incl_vat", "ticket_number_pattern"):
                if key in data:
                    raise ValidationError(f"not allowed on a {kind} (its components carry it)", key)
            tickets = sum(component["quantity"] for component in data["components"])
            if tickets > MAX_TICKETS_PER_PACKAGE_WALLET:
                raise ValidationError(
                    f"a {kind} wallet holds at most {MAX_TICKETS_PER_PACKAGE_WALLET} tickets", "components"
                )
        elif kind.admits:
            if "admission" not in data:
                raise ValidationError(f"required for a {_kinds(lambda kind: kind.admits)} item", "admission")
            if "components" in data:
                raise ValidationError(f"only a {_kinds(lambda kind: kind.has_components)} has components", "components")
            if "price_excl_vat" not in data and "price_incl_vat" not in data:
                raise ValidationError("give price_excl_vat, price_incl_vat or both", "price_excl_vat")
        else:
            for key in ("admission", "components"):
                if key in data:
                    raise ValidationError(f"not allowed on a {kind}", key)


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
    queue_timeout_seconds = fields.Float(load_default=480.0, validate=validate.Range(min=0))
    requests_per_window = fields.Integer(load_default=6000, strict=True, validate=validate.Range(min=1))
    window_seconds = fields.Float(load_default=300.0, validate=validate.Range(min=1))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> GatewayLimits:
        return GatewayLimits(**data)


class ClockSchema(StrictSchema):
    now = fields.AwareDateTime(
        required=True, format="iso", default_timezone=UTC, validate=validate.Range(min=EARLIEST, max=LATEST)
    )
    frozen = fields.Boolean(load_default=False)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> ClockSetting:
        return ClockSetting(**data)


class FaultMatchSchema(StrictSchema):
    """A fault rule's id, description and what it matches."""

    id = fields.String(validate=validate.Regexp(RULE_ID))
    description = fields.String(load_default="", validate=validate.Length(max=MAX_TEXT))
    # what the rule matches
    operation = fields.String(validate=validate.OneOf(OPERATIONS))
    tenant = fields.String(validate=validate.Length(max=MAX_NAME))
    environment = fields.String(validate=validate.Length(max=MAX_NAME))
    company = fields.String(validate=validate.Length(max=MAX_NAME))
    partner = fields.UUID()
    reference = fields.String(validate=validate.Length(min=1, max=50))  # a glob: * and ?
    item = fields.String(validate=validate.Length(max=MAX_NAME))
    nth = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_COUNT))
    probability = fields.Float(validate=validate.Range(min=0, max=1))
    seed = fields.Integer(strict=True)
    times = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_COUNT))

    @validates_schema
    def one_outcome(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_outcome(data)


# a fault rule: what it matches, and what it makes happen (the keys of simulator.outcomes, exactly one)
FaultSchema = FaultMatchSchema.from_dict(outcome_fields(), name="FaultSchema")


class OtaSchema(StrictSchema):
    """The asynchronous OTA Channel Manager mode."""

    all_partners = fields.Boolean(load_default=False)  # else only partners with ota = true
    cadence_seconds = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=3600))  # 0: by hand only

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> OtaSettings:
        return OtaSettings(**data)


class WebhooksSchema(StrictSchema):
    """How webhook deliveries behave (simulator additions: retries, faults, a signature)."""

    retry_seconds = fields.List(
        fields.Float(validate=validate.Range(min=0, max=3600)), load_default=lambda: [1.0, 2.0, 4.0, 8.0, 16.0]
    )
    timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=60))
    signing_secret = fields.String(load_default="")
    drop = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1))  # probability a delivery is lost
    duplicate = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1))  # ... is sent twice
    delay_ms = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=MAX_DELAY_MS))
    out_of_order = fields.Boolean(load_default=False)  # hold each delivery until the next one is sent first
    seed = fields.Integer(strict=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> WebhookSettings:
        return WebhookSettings(**{**data, "retry_seconds": tuple(data["retry_seconds"])})


OTA_DEFAULTS: OtaSettings = OtaSchema().load({})
WEBHOOK_DEFAULTS: WebhookSettings = WebhooksSchema().load({})


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
    settings: dict[str, Any] = {"currency": "DKK", "vat_percent": 25, "ticket_number_pattern": "ATF-BIL######?-#"}
    partners, admissions, items = {}, {}, {}
    for scenario in scenarios:
        section = scenario.catalog
        settings.update({key: section[key] for key in settings if key in section})
        for partner in section.get("partners", []):
            partners[partner.partner_id] = partner
        for admission in section.get("admissions", []):
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
            if target is None or target.kind.has_components:
                raise ScenarioError(
                    f"{path}: catalog.items.{index}.components.{position}.item: "
                    f"'{component['item']}' is not a ticket or coupon item of the catalog"
                )
    return catalog


def _kinds(having: Callable[[ItemKind], bool]) -> str:
    """The item kinds `having` picks, for messages: `ticket or group`."""
    return " or ".join(kind.value for kind in ItemKind if having(kind))


def _item(raw: dict, index: int, catalog: Catalog, vat: float, default_pattern: str) -> Item:
    kind = ItemKind(raw["kind"])
    if kind.has_components:
        components = tuple(Component(c["item"], c["quantity"]) for c in raw["components"])
        return Item(raw["number"], raw["description"], kind, components=components)
    if not kind.admits:  # no admission (a coupon); free unless priced
        excl = raw.get("price_excl_vat", 0)
        return Item(
            raw["number"],
            raw["description"],
            kind,
            price_excl_vat=excl,
            price_incl_vat=raw.get("price_incl_vat", round(excl * (1 + vat), 2)),
            ticket_number_pattern=raw.get("ticket_number_pattern", COUPON_PATTERN),
        )
    if raw["admission"] not in catalog.admissions:
        raise ValidationError(f"unknown admission '{raw['admission']}'", f"catalog.items.{index}.admission")
    excl = raw.get("price_excl_vat")
    incl = raw.get("price_incl_vat")
    if excl is None:  # the schema asks for one price at least
        excl = round(raw["price_incl_vat"] / (1 + vat), 2)
    if incl is None:
        incl = round(excl * (1 + vat), 2)
    return Item(
        raw["number"],
        raw["description"],
        kind,
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
    """Read and validate one scenario file, or a bundled scenario by name (`sold-out`: no `/`
    and no `.toml`); raise ScenarioError naming the file and key."""
    path = bundled_scenario(path) if isinstance(path, str) and is_bundled_name(path) else Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ScenarioError(f"{path}: cannot be read ({error.strerror})") from None
    except ValueError:  # a NUL in the path
        raise ScenarioError(f"{path}: cannot be read (not a file name)") from None
    return parse_scenario(scenario_text(data, path), path)


def scenario_text(data: bytes, name: str | Path = "scenario") -> str:
    """Scenario bytes as text: UTF-8, with lone surrogates (as ED A0 80) replaced by U+FFFD."""
    try:
        text = data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise ScenarioError(f"{name}: not UTF-8 text") from None
    return LONE_SURROGATE.sub("\ufffd", text)


def parse_scenario(text: str, name: str | Path = "scenario") -> Scenario:
    """Validate scenario text (TOML); `name` is what error messages call it."""
    text = ESCAPED_SURROGATE.sub(r"\1\\uFFFD", LONE_SURROGATE.sub("\ufffd", text))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{name}: not valid TOML ({error})") from None
    except RecursionError:
        raise ScenarioError(f"{name}: nests deeper than {MAX_NESTING} levels") from None
    except ValueError:  # an integer of thousands of digits
        raise ScenarioError(f"{name}: holds a whole number beyond 64 bits") from None
    return scenario_from_data(raw, name)


def validate_faults(rules: list, name: str = "request") -> list[dict]:
    """Validate fault rules given on their own (as the control API receives them)."""
    try:
        return FaultSchema(many=True).load(usable_data(rules))
    except UnusableData as error:
        raise ScenarioError(f"{name}: {error}") from None
    except ValidationError as error:
        raise ScenarioError(f"{name}: {_describe(error)}") from None


def scenario_from_data(raw: dict, name: str | Path = "scenario") -> Scenario:
    try:
        data = ScenarioSchema().load(usable_data(raw))
    except UnusableData as error:
        raise ScenarioError(f"{name}: {error}") from None
    except ValidationError as error:
        raise ScenarioError(f"{name}: {_describe(error)}") from None
    prefix = _rule_id_prefix(name)
    faults = [{**rule, "id": rule.get("id", f"{prefix}-{index + 1}")} for index, rule in enumerate(data["faults"])]
    return Scenario(path=name, **{**data, "faults": faults})  # a section left out stays None


def _rule_id_prefix(name: str | Path) -> str:
    """The scenario's name made fit for the ids of its unnamed rules (which match RULE_ID)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", PurePath(str(name)).stem).strip("-.")
    return stem[:48] or "scenario"


def is_bundled_name(name: str | Path) -> bool:
    return isinstance(name, str) and "/" not in name and "\\" not in name and not name.endswith(".toml")


def bundled_scenario(name: str) -> Path:
    """The bundled scenario file of that name; ScenarioError listing the names when there is none."""
    folder = default_scenario_path().parent
    path = folder / f"{name}.toml"
    if name and "\0" not in name and path.is_file():
        return path
    names = ", ".join(sorted(file.stem for file in folder.glob("*.toml")))
    raise ScenarioError(f"{name[:60]}: no bundled scenario has that name (they are: {names})")


def default_scenario_path() -> Path:
    """The default catalog that `cm-sim serve` uses with no --scenario."""
    package = Path(__file__).resolve().parent
    in_checkout = package.parent / "scenarios" / "default.toml"
    return in_checkout if in_checkout.exists() else package / "scenarios" / "default.toml"


# -- scenario files named by the control API ---------------------------------


def scenario_directories(extra: Sequence[str | Path] = ()) -> tuple[Path, ...]:
    """Where `POST /_sim/scenarios {"path": ...}` may read: the bundled scenarios and `extra`."""
    return tuple(Path(os.path.realpath(directory)) for directory in (default_scenario_path().parent, *extra))


def load_scenario_inside(path: str, directories: tuple[Path, ...]) -> Scenario:
    """Read a scenario file named by a caller of the control API: a regular `.toml` file inside
    one of `directories` (relative to the working directory or to one of them). A refusal does
    not say whether the file exists elsewhere."""
    data = _read_regular_file(_file_inside(path, directories), path)
    return parse_scenario(scenario_text(data, path), path)


def _file_inside(path: str, directories: tuple[Path, ...]) -> Path:
    given = PurePath(path)
    if "\0" not in path and ".." not in given.parts:
        for candidate in _candidates(given, directories):
            resolved = Path(os.path.realpath(candidate))
            if any(resolved.is_relative_to(directory) for directory in directories) and resolved.is_file():
                return resolved
    raise ScenarioError(
        f"{path}: not a scenario file of this server; name a .toml file inside its scenario "
        "directories (the bundled scenarios, or one given with --scenario-dir)"
    )


def _candidates(given: PurePath, directories: tuple[Path, ...]) -> list[Path]:
    if given.is_absolute():
        return [Path(given)]
    try:
        here = [Path.cwd() / given]
    except OSError:  # the working directory was removed
        here = []
    return [*here, *(directory / given for directory in directories)]


def _read_regular_file(path: Path, name: str) -> bytes:
    """The file's bytes; what is no longer a regular file by the time it is opened is refused
    (it is never waited on, as a FIFO would be)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as file:
            status = os.fstat(file.fileno())
            if stat.S_ISREG(status.st_mode) and status.st_size <= MAX_SCENARIO_BYTES:
                return file.read(MAX_SCENARIO_BYTES + 1)
    except OSError:
        pass
    raise ScenarioError(f"{name}: cannot be read as a scenario file")


# -- data from outside: scenarios, rules, imports -----------------------------


class UnusableData(ValueError):
    """Data nested too deep or holding a number no field can take; the message says which."""


def usable_data(value, surrogates: bool = True):
    """`value` (parsed JSON or TOML) with lone surrogates replaced by U+FFFD (with `surrogates`);
    UnusableData when it nests deeper than MAX_NESTING levels, or holds a whole number beyond
    64 bits or a number that is not finite."""
    _check_nesting(value)
    return _usable(value, surrogates)


def _check_nesting(value) -> None:
    """Without recursion, so that any depth is measured safely."""
    pending = [(value, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > MAX_NESTING:
            raise UnusableData(f"nests deeper than {MAX_NESTING} levels")
        pending.extend((child, depth + 1) for child in children)


def without_lone_surrogates(value):
    """Parsed JSON with lone surrogates (valid JSON, not valid text) replaced by U+FFFD, as a
    UTF-16 platform does when it writes them out as UTF-8."""
    return _usable(value, surrogates=True, numbers=False)


def _usable(value, surrogates: bool, numbers: bool = True):
    """`value` with lone surrogates replaced (with `surrogates`); UnusableData for a number no
    field can take (with `numbers`)."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value) if surrogates else value
    if numbers and isinstance(value, int) and abs(value) > LARGEST_WHOLE_NUMBER:
        raise UnusableData("holds a whole number beyond 64 bits")
    if numbers and isinstance(value, float) and not math.isfinite(value):
        raise UnusableData("holds a number that is not finite")
    if isinstance(value, list):
        return [_usable(entry, surrogates, numbers) for entry in value]
    if isinstance(value, dict):
        return {_usable(key, surrogates, numbers): _usable(entry, surrogates, numbers) for key, entry in value.items()}
    return value


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

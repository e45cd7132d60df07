"""USB mode-switch configuration: OpenWrt's usb-mode.json, usb_modeswitch files, and what each
Huawei switch message does.  Sans-I/O: text in, a `SwitchPlan` out; pppstack.io.modeswitch sends it.

Formats (anchors §6.1): ``{"messages": [hex, ...], "devices": {"vvvv:pppp": {<match>: {...}}}}``
where ``msg`` holds indices into ``messages``; usb_modeswitch files use ``MessageContent``,
``TargetVendor``, ``TargetProductList``, ``HuaweiNewMode`` and friends.  Users paste these files
from forums, so a trailing comma (as in the E3372h-320 thread) is accepted with a warning, and
anything else that cannot be read is reported with its line and column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "UsbModeError", "SwitchMessage", "DeviceRule", "UsbModeConfig", "MessageInfo", "TargetMode",
    "SwitchPlan", "parse_usbmode_json", "parse_modeswitch_config", "parse_config", "classify_message",
    "plan_switch", "HUAWEI_NEW_MESSAGE", "HUAWEI_ALT_MESSAGE", "STANDARD_EJECT_MESSAGES", "KNOWN_PRODUCTS",
    "USBMODE_MODES",
]

# usbmode switch.c mode names; an unknown name falls through to Generic (anchors §6.1 quirk b).
USBMODE_MODES = ("Generic", "StandardEject", "Huawei", "HuaweiNew", "Sierra", "Sony", "Qisda", "GCT", "Kobil",
                 "Sequans", "MobileAction", "Cisco", "MBIM", "Option", "Quanta", "Blackberry", "Pantech")
SUPPORTED_MODES = ("Generic", "StandardEject", "Huawei", "HuaweiNew", "HuaweiAlt")

_CBW_PREFIX = "555342431234567800000000000000"
HUAWEI_NEW_MESSAGE = bytes.fromhex(_CBW_PREFIX + "11062000000101000100000000000000")   # usb_modeswitch -J
HUAWEI_ALT_MESSAGE = bytes.fromhex(_CBW_PREFIX + "11063000000000010000000000000000")   # usb_modeswitch 2.5 -X
STANDARD_EJECT_MESSAGES = tuple(bytes.fromhex(h) for h in (
    "5553424312345678000000000000061e000000000000000000000000000000",   # PREVENT ALLOW, LUN 0
    "5553424312345679000000000000061b000000020000000000000000000000",   # START STOP: eject, LUN 0
    "5553424312345678000000000001061e000000000000000000000000000000",   # PREVENT ALLOW, LUN 1
    "5553424312345679000000000001061b000000020000000000000000000000",   # START STOP: eject, LUN 1
))


class UsbModeError(ValueError):
    """A configuration that cannot be used; ``line``/``column`` point at the place (1-based)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source: str | None = None) -> None:
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
        prefix = ": ".join(x for x in (source, where) if x)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.line, self.column, self.source, self.reason = line, column, source, message


# ---------------------------------------------------------------- what a message does

class TargetMode(Enum):
    HILINK = "HiLink (cdc_ether/RNDIS router inside the stick, NAT)"
    STICK_NCM = "stick mode: serial ports (PPP, AT) plus a CDC NCM network function"
    MODEM_ONLY = "modem only: serial ports, no network function"
    EJECT = "mass-storage eject (the device decides what comes next)"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MessageInfo:
    kind: str                    # "huawei-new", "huawei-alt", "huawei-vendor", "scsi-eject", "cbw", "raw"
    mode: TargetMode
    targets: tuple[int, ...]     # product IDs (vendor 0x12d1) this message is observed to give
    description: str
    valid_cbw: bool


# CDB bytes -> (kind, mode, targets, words), from anchors §6.2 (observed behaviour, E3372h family).
_HUAWEI_CDBS: dict[bytes, tuple[str, TargetMode, tuple[int, ...], str]] = {
    bytes.fromhex("11062000000101000100000000000000"): (
        "huawei-new", TargetMode.HILINK, (0x14DB, 0x14DC),
        "usb_modeswitch HuaweiNewMode (-J): 12d1:1f01 -> 14db/14dc HiLink"),
    bytes.fromhex("11062000000100000000000000000000"): (
        "huawei-vendor", TargetMode.HILINK, (0x14DB, 0x14DC),
        "the classic Huawei 0x11 0x06 0x20 switch: on the E3372h it gives HiLink 14db/14dc"),
    bytes.fromhex("11063000000000010000000000000000"): (
        "huawei-alt", TargetMode.STICK_NCM, (0x155E,),
        "usb_modeswitch 2.5 HuaweiAltMode (-X): E3372h-320 -> 12d1:155e (3 serial ports + class NCM)"),
    bytes.fromhex("11063000000100010000000000000000"): (
        "huawei-vendor", TargetMode.STICK_NCM, (0x155E, 0x155F),
        "0x11 0x06 0x30 alternative layout: 12d1:155e/155f stick mode with serial ports and CDC NCM"),
    bytes.fromhex("11063000000100000000000000000000"): (
        "huawei-vendor", TargetMode.MODEM_ONLY, (0x1001,),
        "0x11 0x06 0x30 variant: 12d1:1001, modem only (no network function)"),
}

KNOWN_PRODUCTS: dict[tuple[int, int], str] = {
    (0x12D1, 0x1F01): "Huawei E3372 family in CD-ROM (mass storage) mode: needs a mode switch",
    (0x12D1, 0x14DB): "Huawei HiLink (cdc_ether, router inside the stick)",
    (0x12D1, 0x14DC): "Huawei HiLink (RNDIS/cdc_ether, router inside the stick)",
    (0x12D1, 0x155E): "Huawei E3372h-320 stick mode (serial ports + CDC NCM)",
    (0x12D1, 0x155F): "Huawei E3372h-320 stick mode (serial ports + CDC NCM)",
    (0x12D1, 0x1506): "Huawei stick mode (serial ports + vendor NCM, huawei_cdc_ncm)",
    (0x12D1, 0x1001): "Huawei modem (serial ports only)",
}


def classify_message(data: bytes) -> MessageInfo:
    """Say what a switch message is and which mode it is known to give."""
    valid = len(data) == 31 and data[:4] == b"USBC"
    if not valid:
        return MessageInfo("raw", TargetMode.UNKNOWN, (), f"not a 31-byte USB mass-storage command block "
                           f"({len(data)} bytes)", False)
    cdb = data[15:31]
    known = _HUAWEI_CDBS.get(cdb)
    if known:
        kind, mode, targets, words = known
        return MessageInfo(kind, mode, targets, words, True)
    if cdb[0] == 0x11 and cdb[1] == 0x06:
        return MessageInfo("huawei-vendor", TargetMode.UNKNOWN, (),
                           f"a Huawei vendor switch (0x11 0x06 0x{cdb[2]:02x}) whose result is not known", True)
    if cdb[0] == 0x1B:
        return MessageInfo("scsi-eject", TargetMode.EJECT, (), "SCSI START STOP UNIT (eject)", True)
    if cdb[0] == 0x1E:
        return MessageInfo("scsi-eject", TargetMode.EJECT, (), "SCSI PREVENT ALLOW MEDIUM REMOVAL", True)
    return MessageInfo("cbw", TargetMode.UNKNOWN, (), f"a mass-storage command with SCSI opcode 0x{cdb[0]:02x}", True)


# ---------------------------------------------------------------- configuration model

@dataclass(frozen=True, slots=True)
class SwitchMessage:
    index: int
    data: bytes

    @property
    def info(self) -> MessageInfo:
        return classify_message(self.data)


@dataclass(frozen=True)
class DeviceRule:
    vendor: int
    product: int
    match: str = "*"                       # "*" or uMa=/uPr=/uSe=
    t_vendor: int | None = None
    t_product: tuple[int, ...] = ()
    t_class: int | None = None
    mode: str | None = None
    modeval: int | None = None
    msg: tuple[int, ...] = ()
    interface: int | None = None
    msg_endpoint: int | None = None
    response_endpoint: int | None = None
    response: bool = False
    config: int | None = None
    alt: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"

    def matches(self, manufacturer: str | None = None, product: str | None = None,
                serial: str | None = None) -> bool:
        if self.match == "*":
            return True
        key, _, value = self.match.partition("=")
        have = {"uMa": manufacturer, "uPr": product, "uSe": serial}.get(key)
        if key not in ("uMa", "uPr", "uSe"):
            return True     # usbmode ignores the other sXxx SCSI attributes, i.e. they match
        return have == value


@dataclass(frozen=True)
class UsbModeConfig:
    messages: tuple[SwitchMessage, ...]
    devices: tuple[DeviceRule, ...]
    warnings: tuple[str, ...] = ()

    def rule_for(self, vendor: int, product: int, manufacturer: str | None = None,
                 product_name: str | None = None, serial: str | None = None) -> DeviceRule | None:
        for rule in self.devices:
            if (rule.vendor, rule.product) == (vendor, product) and rule.matches(manufacturer, product_name, serial):
                return rule
        return None


# ---------------------------------------------------------------- usb-mode.json

def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _blank_trailing_commas(text: str) -> tuple[str, list[int]]:
    """Replace commas that directly precede ] or } (outside strings) with spaces, keeping every
    other character in place so JSON error positions still point into the user's file."""
    out = list(text)
    fixed: list[int] = []
    in_str = esc = False
    last_comma: int | None = None
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str, last_comma = True, None
        elif ch == ",":
            last_comma = i
        elif ch in "]}":
            if last_comma is not None:
                out[last_comma] = " "
                fixed.append(last_comma)
            last_comma = None
        elif not ch.isspace():
            last_comma = None
    return "".join(out), fixed


def _int_value(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(f"{what} must be a number, not {json.dumps(v)}")
    if isinstance(v, str):
        s = v.strip().lower()
        try:
            return int(s, 16) if s.startswith("0x") else int(s)
        except ValueError:
            raise ValueError(f"{what} must be a number, not {json.dumps(v)}") from None
    return v


def _locate(text: str, needle: str) -> tuple[int | None, int | None]:
    pos = text.find(needle)
    return _line_col(text, pos) if pos >= 0 else (None, None)


_RULE_KEYS = {"t_vendor", "t_product", "t_class", "mode", "modeval", "msg", "interface", "msg_endpoint",
              "response_endpoint", "response", "config", "alt"}
_IGNORED_KEYS = {"wait", "detach_storage", "no_driver", "reset", "inquire", "check", "release_delay"}


def parse_usbmode_json(text: str, source: str | None = None) -> UsbModeConfig:
    cleaned, fixed = _blank_trailing_commas(text)
    warnings = [f"{source + ': ' if source else ''}line {ln}, column {col}: trailing comma ignored"
                for ln, col in (_line_col(text, p) for p in fixed)]
    try:
        doc = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Expecting ',' delimiter"):
            # json points at the next token; the comma belongs right after the previous one
            pos = exc.pos
            while pos > 0 and cleaned[pos - 1].isspace():
                pos -= 1
            raise UsbModeError("a comma is missing here (between two values)", *_line_col(text, pos), source) from None
        raise UsbModeError(exc.msg, exc.lineno, exc.colno, source) from None
    if not isinstance(doc, dict):
        raise UsbModeError("the top level must be an object with \"messages\" and \"devices\"", 1, 1, source)
    for key in ("messages", "devices"):
        if key not in doc:
            raise UsbModeError(f"configuration incomplete: no \"{key}\" (usbmode needs both)", None, None, source)
    raw_msgs = doc["messages"]
    if not isinstance(raw_msgs, list):
        raise UsbModeError("\"messages\" must be a list of hex strings", *_locate(text, '"messages"'), source)
    messages = []
    for i, m in enumerate(raw_msgs):
        line, col = _locate(text, json.dumps(m)) if isinstance(m, str) else (None, None)
        if not isinstance(m, str):
            raise UsbModeError(f"message {i} must be a hex string", *_locate(text, '"messages"'), source)
        if len(m) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", m):
            bad = next((k for k, ch in enumerate(m) if ch not in "0123456789abcdefABCDEF"), None)
            why = f"invalid hex digit {m[bad]!r}" if bad is not None else f"odd number of hex digits ({len(m)})"
            raise UsbModeError(f"message {i}: {why}", line, None if col is None else col + 1 + (bad or 0), source)
        messages.append(SwitchMessage(i, bytes.fromhex(m)))
    devs = doc["devices"]
    if not isinstance(devs, dict):
        raise UsbModeError("\"devices\" must be an object keyed by \"vvvv:pppp\"", *_locate(text, '"devices"'), source)
    rules = []
    for key, matches in devs.items():
        loc = _locate(text, json.dumps(key))
        m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", key)
        if not m:
            raise UsbModeError(f"device key {key!r} is not \"vvvv:pppp\"", *loc, source)
        if not isinstance(matches, dict):
            raise UsbModeError(f"device {key} must map match strings (\"*\") to settings", *loc, source)
        for match, cfg in matches.items():
            if not isinstance(cfg, dict):
                raise UsbModeError(f"device {key} / {match}: settings must be an object", *loc, source)
            try:
                rules.append(_rule(int(m[1], 16), int(m[2], 16), match, cfg, len(messages), warnings, key))
            except ValueError as exc:
                raise UsbModeError(f"device {key} / {match!r}: {exc}", *loc, source) from None
    return UsbModeConfig(tuple(messages), tuple(rules), tuple(warnings))


def _rule(vendor: int, product: int, match: str, cfg: dict[str, object], n_msgs: int,
          warnings: list[str], key: str) -> DeviceRule:
    extra = {k: v for k, v in cfg.items() if k not in _RULE_KEYS}
    for k in extra:
        note = "read by no usbmode code" if k in _IGNORED_KEYS else "unknown key"
        warnings.append(f"device {key}: \"{k}\" ignored ({note})")
    t_product = cfg.get("t_product", [])
    if not isinstance(t_product, list):
        t_product = [t_product]
    msg = cfg.get("msg", [])
    if not isinstance(msg, list):
        msg = [msg]
    msg_idx = tuple(_int_value(x, "msg index") for x in msg)
    for idx in msg_idx:
        if not 0 <= idx < n_msgs:
            raise ValueError(f"msg index {idx} is out of range (there are {n_msgs} messages)")
    mode = cfg.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise ValueError("mode must be a string")
    if mode is not None and mode not in USBMODE_MODES:
        warnings.append(f"device {key}: mode \"{mode}\" is not a usbmode mode; usbmode treats it as Generic "
                        f"(send the msg list)")
    if not msg_idx and mode in (None, "Generic"):
        raise ValueError("no \"msg\" and no special mode: nothing would be sent")

    def opt(name: str) -> int | None:
        return _int_value(cfg[name], name) if name in cfg else None

    return DeviceRule(
        vendor=vendor, product=product, match=match, t_vendor=opt("t_vendor"),
        t_product=tuple(_int_value(x, "t_product") for x in t_product), t_class=opt("t_class"), mode=mode,
        modeval=opt("modeval"), msg=msg_idx, interface=opt("interface"), msg_endpoint=opt("msg_endpoint"),
        response_endpoint=opt("response_endpoint"), response=bool(cfg.get("response", False)),
        config=opt("config"), alt=opt("alt"), extra=extra)


# ---------------------------------------------------------------- usb_modeswitch files

_MS_MODES = {"HuaweiMode": "Huawei", "HuaweiNewMode": "HuaweiNew", "HuaweiAltMode": "HuaweiAlt",
             "StandardEject": "StandardEject", "SierraMode": "Sierra", "SonyMode": "Sony", "QisdaMode": "Qisda",
             "GCTMode": "GCT", "KobilMode": "Kobil", "SequansMode": "Sequans", "MobileActionMode": "MobileAction",
             "CiscoMode": "Cisco", "MBIM": "MBIM", "OptionMode": "Option", "QuantaMode": "Quanta",
             "BlackberryMode": "Blackberry", "PantechMode": "Pantech"}


def parse_modeswitch_config(text: str, source: str | None = None, device: str | None = None) -> UsbModeConfig:
    """A usb_modeswitch config (``Key=value`` lines).  The device comes from DefaultVendor/
    DefaultProduct, or from ``device`` ("12d1:1f01", e.g. the file name in usb_modeswitch.d)."""
    values: dict[str, tuple[str, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if "=" not in line:
            raise UsbModeError(f"expected Key=value, got {line!r}", lineno, 1, source)
        k, _, v = line.partition("=")
        v = v.split("#", 1)[0].strip().strip('"').strip("'")
        values[k.strip()] = (v, lineno)

    def num(name: str) -> int | None:
        if name not in values:
            return None
        v, ln = values[name]
        try:
            return int(v, 16) if v.lower().startswith("0x") or name.endswith(("Vendor", "Product")) else int(v)
        except ValueError:
            raise UsbModeError(f"{name} must be a number, not {v!r}", ln, None, source) from None

    vendor, product = num("DefaultVendor"), num("DefaultProduct")
    if (vendor is None or product is None) and device:
        m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", device)
        if m:
            vendor, product = int(m[1], 16), int(m[2], 16)
    if vendor is None or product is None:
        raise UsbModeError("no DefaultVendor/DefaultProduct (give the device as vvvv:pppp)", None, None, source)
    messages: list[SwitchMessage] = []
    for name in ("MessageContent", "MessageContent2", "MessageContent3"):
        if name in values:
            hexs, ln = values[name]
            if len(hexs) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", hexs):
                raise UsbModeError(f"{name} is not an even-length hex string", ln, None, source)
            messages.append(SwitchMessage(len(messages), bytes.fromhex(hexs)))
    mode = next((m for k, m in _MS_MODES.items() if values.get(k, ("0", 0))[0] == "1"), None)
    targets: list[int] = []
    if "TargetProductList" in values:
        v, ln = values["TargetProductList"]
        try:
            targets = [int(x, 16) for x in v.split(",") if x.strip()]
        except ValueError:
            raise UsbModeError(f"TargetProductList must be hex IDs separated by commas, not {v!r}", ln, None,
                               source) from None
    elif num("TargetProduct") is not None:
        targets = [num("TargetProduct") or 0]
    if not messages and mode is None:
        raise UsbModeError("no MessageContent and no switching mode: nothing would be sent", None, None, source)
    rule = DeviceRule(vendor=vendor, product=product, t_vendor=num("TargetVendor"), t_product=tuple(targets),
                      t_class=num("TargetClass"), mode=mode, msg=tuple(range(len(messages))),
                      interface=num("Interface"), msg_endpoint=num("MessageEndpoint"),
                      response_endpoint=num("ResponseEndpoint"),
                      response=values.get("NeedResponse", ("0", 0))[0] == "1",
                      config=num("Configuration"), alt=num("AltSetting"))
    return UsbModeConfig(tuple(messages), (rule,), ())


def parse_config(text: str, source: str | None = None, device: str | None = None) -> UsbModeConfig:
    """Either format, by its first non-blank character."""
    if text.lstrip().startswith("{"):
        return parse_usbmode_json(text, source)
    return parse_modeswitch_config(text, source, device)


# ---------------------------------------------------------------- the plan

@dataclass(frozen=True)
class SwitchPlan:
    rule: DeviceRule
    mode: str                              # Generic, HuaweiNew, HuaweiAlt, StandardEject, Huawei
    messages: tuple[bytes, ...]            # bulk-out messages, in order
    control_feature: bool = False          # Huawei (old): SET_FEATURE(1) to the device
    expected_vendor: int | None = None
    expected_products: tuple[int, ...] = ()
    expected_mode: TargetMode = TargetMode.UNKNOWN
    notes: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        lines = [f"device {self.rule.key}: mode {self.mode}"]
        for i, m in enumerate(self.messages):
            lines.append(f"  message {i}: {m.hex()} ({classify_message(m).description})")
        if self.control_feature:
            lines.append("  control transfer: SET_FEATURE(1) to the device")
        if self.expected_products:
            v = self.expected_vendor if self.expected_vendor is not None else self.rule.vendor
            lines.append("  expect: " + ", ".join(f"{v:04x}:{p:04x}" for p in self.expected_products)
                         + f" ({self.expected_mode.value})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines


def plan_switch(config: UsbModeConfig, rule: DeviceRule) -> SwitchPlan:
    mode = rule.mode or "Generic"
    notes: list[str] = []
    if mode == "HuaweiAlt" and rule.msg:
        # usb-mode.json recipes say "mode": "HuaweiAlt" next to their own msg list; usbmode has no
        # such mode and sends the list (Generic), so do the same.
        notes.append("mode \"HuaweiAlt\" with a msg list runs as Generic, as usbmode does")
        mode = "Generic"
    elif mode not in SUPPORTED_MODES:
        if mode in USBMODE_MODES:
            raise UsbModeError(f"mode {mode} is not implemented here (supported: {', '.join(SUPPORTED_MODES)})")
        notes.append(f"mode \"{mode}\" is unknown to usbmode and runs as Generic, as usbmode does")
        mode = "Generic"
    if mode == "HuaweiNew":
        msgs: tuple[bytes, ...] = (HUAWEI_NEW_MESSAGE,)
    elif mode == "HuaweiAlt":
        msgs = (HUAWEI_ALT_MESSAGE,)
    elif mode == "StandardEject":
        msgs = STANDARD_EJECT_MESSAGES
    elif mode == "Huawei":
        msgs = ()
    else:
        msgs = tuple(config.messages[i].data for i in rule.msg)
    infos = [classify_message(m) for m in msgs]
    observed = tuple(dict.fromkeys(t for info in infos for t in info.targets))
    # t_product is what the config's author saw; the message is also known to give `observed`
    # (the thread's JSON says 155f, while the same 0x11 0x06 0x30 switch brings the E3372h-320 up as
    # 155e): waiting for t_product alone failed the switch on a stick that had switched fine.
    expected = tuple(dict.fromkeys(rule.t_product + observed))
    expected_mode = next((i.mode for i in infos if i.mode is not TargetMode.UNKNOWN), TargetMode.UNKNOWN)
    for p in expected:
        name = KNOWN_PRODUCTS.get((rule.t_vendor or rule.vendor, p))
        if name and expected_mode is TargetMode.UNKNOWN:
            expected_mode = (TargetMode.HILINK if "HiLink" in name else
                             TargetMode.STICK_NCM if "NCM" in name else TargetMode.MODEM_ONLY)
    if rule.t_product and observed and not set(rule.t_product) & set(observed):
        notes.append("t_product " + ",".join(f"{p:04x}" for p in rule.t_product) + " differs from what this message "
                     "is known to give (" + ",".join(f"{p:04x}" for p in observed) + ")")
    if mode == "StandardEject" or any(i.kind == "scsi-eject" for i in infos):
        notes.append("an eject makes the device re-enumerate as it sees fit")
    return SwitchPlan(rule, mode, msgs, mode == "Huawei", rule.t_vendor, tuple(expected), expected_mode, tuple(notes))

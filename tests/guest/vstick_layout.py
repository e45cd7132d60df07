"""What the virtual E3372h-320 looks like on USB: the ONE place to change when a real dump arrives.

Known (the forum thread's kernel log, /work/shared/context): stage 1 is 12d1:1f01 and usb-storage
binds interface 1.0 ("Quirks match for vid 12d1 pid 1f01"); after the switch ``option`` binds
1.0, 1.1 and 1.2 (ttyUSB0..2, "GSM modem (1-port) converter") and ``cdc_ncm`` binds 1.3 as a
"Mobile Broadband Network Device" (the class-compliant 02/0d NCM function). The thread's PPP works
on ttyUSB2, ttyUSB0 says CONNECT and hangs up a second later, ttyUSB1 "does nothing". The
usb_modeswitch -X message gives 12d1:155e (anchors §6.2).

UNKNOWN, chosen here and marked ``# UNKNOWN``: the vendor subclass/protocol of the three serial
interfaces (we use ModemManager's Huawei rules ff/02/02 PCUI, ff/02/01 modem, and ff/02/03 for
diagnostics), which of them has an interrupt (notification) endpoint, the endpoint sizes and
intervals, every string, the INQUIRY strings and the CD image, bcdDevice, MaxPower. Someone with
the stick: ``pppstack ports --dump`` (or ``lsusb -v -d 12d1:``) prints what to put here.

Deliberate differences from the real stick: the NCM function is Linux's usb_f_ncm (its own
strings, MAC addresses and NTB parameters), and the interfaces sit on dummy_hcd (high speed).
"""

from __future__ import annotations

from dataclasses import dataclass

VENDOR = 0x12D1
CDROM_PRODUCT = 0x1F01
STICK_PRODUCT = 0x155E
MANUFACTURER = "HUAWEI_MOBILE"          # UNKNOWN (what Huawei sticks commonly report)
PRODUCT = "HUAWEI_MOBILE"               # UNKNOWN
SERIAL = "0123456789ABCDEF"             # UNKNOWN
BCD_DEVICE = 0x0102                     # UNKNOWN
MAX_POWER_MA = 2                        # the thread's /sys/kernel/debug/usb/devices: "MxPwr= 2mA"

# Stage 1: one mass-storage interface, SCSI transparent, bulk-only (08/06/50), as usb-storage bound it.
STORAGE_CLASS = (0x08, 0x06, 0x50)
INQUIRY_VENDOR = "HUAWEI"               # UNKNOWN
INQUIRY_PRODUCT = "Mass Storage"        # UNKNOWN
INQUIRY_REVISION = "2.31"               # UNKNOWN
CD_BLOCKS = 64                          # UNKNOWN: a 128 KiB "autorun" image (the real one is a few MB)


@dataclass(frozen=True)
class SerialInterface:
    name: str                 # the firmware's name for it (and its FunctionFS instance)
    number: int               # bInterfaceNumber
    cls: tuple[int, int, int]
    notify: bool              # has an interrupt IN endpoint for SERIAL_STATE (DCD/DSR)
    string: str               # iInterface
    role: str                 # what the firmware runs behind it: "pcui" | "diag" | "modem"


# Stage 2, 12d1:155e: interfaces 0..2 serial (option), 3..4 CDC NCM (cdc_ncm), in this order.
SERIAL_INTERFACES = (
    SerialInterface("pcui", 0, (0xFF, 0x02, 0x02), True, "HUAWEI_MOBILE PCUI", "pcui"),       # UNKNOWN class
    SerialInterface("diag", 1, (0xFF, 0x02, 0x03), False, "HUAWEI_MOBILE Diag", "diag"),      # UNKNOWN class
    SerialInterface("modem", 2, (0xFF, 0x02, 0x01), True, "HUAWEI_MOBILE Modem", "modem"),    # UNKNOWN class
)
NOTIFY_MAX_PACKET = 16                  # UNKNOWN
NOTIFY_INTERVAL_HS = 5                  # UNKNOWN (2^(5-1) microframes = 2 ms)

# The gadget side of the NCM function (the "network") and what the host is told to use.
NCM_GADGET_MAC = "00:1e:10:1f:00:01"    # UNKNOWN (the thread's host side was 00:1e:10:1f:00:00)
NCM_HOST_MAC = "00:1e:10:1f:00:00"      # the thread's wwan0 address

# Addresses of the network behind the stick (pppd's end and the NCM gateway).
PPP_GATEWAY = "10.64.64.64"
PPP_CLIENT = "100.68.27.142"
PPP_DNS = ("10.177.0.34", "10.168.187.116")
NCM_GATEWAY = "100.68.27.141"           # the sim's ^DHCP gateway: the other host of the client's /30
NCM_PREFIX = 30

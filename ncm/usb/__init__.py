"""The pyusb edge of the NCM path: find the function, bind it like cdc_ncm, move the transfers.

Finding: an NCM function is a communication interface whose class-specific descriptors hold a
Union (naming the data interface) and an NCM functional descriptor, plus a data interface with
an alternate setting carrying one bulk IN and one bulk OUT endpoint.  Class codes are only a
hint: the E3372 in 12d1:1506 mode presents vendor-specific classes (ff/02/16, huawei_cdc_ncm's
table, anchors §4.2), so descriptors decide.  Without a Union, an interface with the Huawei
vendor triple pairs with the next interface (cdc_ncm's IAD fallback).

Binding follows cdc_ncm_bind_common (anchors §4.1): detach kernel drivers, claim both
interfaces, toggle the data interface to its data setting and back to 0 (some devices reset
only so), GET_NTB_PARAMETERS (required), SET_CRC_MODE off when supported, SET_NTB_FORMAT only
to choose NTB32 (supported and wanted), SET_NTB_INPUT_SIZE, a 10–20 ms pause ("some firmwares need a
pause"), then alternate setting 1.  The MAC is the iMACAddress string.

Moving: `UsbPump` keeps several transfers of dwNtbInMaxSize posted on bulk IN and several NTBs
in flight on bulk OUT through libusb's asynchronous API (`LibusbAsync`, on pyusb's own handle),
one thread handling libusb's events and one reading the interrupt endpoint, and wakes the
owner's select loop through a pipe.  With a backend other than libusb1 (the tests' fake devices)
or PPPSTACK_NCM_TRANSFERS=1 it falls back to one synchronous reader and one writer thread.  A
vanished device (ENODEV) becomes NcmDownCause.USB_DISCONNECTED.
"""

from __future__ import annotations

from ncm.usb.device import (
    HUAWEI_VENDOR_TRIPLES,
    NcmDevice,
    NcmFunction,
    NcmNotFound,
    NcmUsbError,
    classify_usb_error,
    find_devices,
    find_functions,
)
from ncm.usb.pump import UsbPump
from ncm.usb.transfers import (
    DEFAULT_TRANSFERS,
    TRANSFER_CANCELLED,
    TRANSFER_COMPLETED,
    TRANSFER_NO_DEVICE,
    TRANSFER_STALL,
    Completion,
    LibusbAsync,
    TransferFailed,
)

__all__ = [
    "NcmFunction", "NcmUsbError", "NcmNotFound", "NcmDevice", "UsbPump", "find_functions", "find_devices",
    "HUAWEI_VENDOR_TRIPLES", "classify_usb_error", "LibusbAsync", "TransferFailed", "DEFAULT_TRANSFERS",
    "Completion", "TRANSFER_CANCELLED", "TRANSFER_COMPLETED", "TRANSFER_NO_DEVICE", "TRANSFER_STALL",
]

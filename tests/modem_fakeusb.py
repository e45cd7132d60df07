"""A pyusb backend of our own: an E3372 in CD-ROM mode (12d1:1f01) that records every transfer
and, after a valid Huawei switch message on its bulk OUT endpoint, re-enumerates as the product
the message gives (12d1:155e for the -X/alt message) with that mode's interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import usb.backend

from pppstack.modem.usbmode import classify_message


def _ep(addr: int, attrs: int = 2) -> SimpleNamespace:
    return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=attrs,
                           wMaxPacketSize=512, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[])


@dataclass
class FakeDevice:
    vid: int
    pid: int
    interfaces: list[tuple[int, int, int, list[SimpleNamespace]]]   # (class, sub, proto, endpoints)
    address: int = 5
    configured: int = 1
    kernel_driver: set[int] = field(default_factory=lambda: {0})

    def descriptor(self) -> SimpleNamespace:
        return SimpleNamespace(bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
                               bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=self.vid, idProduct=self.pid,
                               bcdDevice=0x0102, iManufacturer=0, iProduct=0, iSerialNumber=0,
                               bNumConfigurations=1, address=self.address, bus=1, port_number=1,
                               port_numbers=(1,), speed=3)


CDROM = [(0x08, 0x06, 0x50, [_ep(0x01), _ep(0x81)])]
STICK_155E = [(0xFF, 0x02, 0x12, [_ep(0x82, 3), _ep(0x83), _ep(0x02)]),
              (0xFF, 0x02, 0x13, [_ep(0x84), _ep(0x03)]),
              (0xFF, 0x02, 0x01, [_ep(0x85, 3), _ep(0x86), _ep(0x04)]),
              (0x02, 0x0D, 0x00, [_ep(0x87, 3)]),
              (0x0A, 0x00, 0x01, [_ep(0x88), _ep(0x05)])]
HILINK_14DC = [(0x02, 0x06, 0x00, [_ep(0x82, 3)]), (0x0A, 0x00, 0x00, [_ep(0x83), _ep(0x02)]),
               (0x08, 0x06, 0x50, [_ep(0x84), _ep(0x03)])]
LAYOUTS = {0x155E: STICK_155E, 0x155F: STICK_155E, 0x14DB: HILINK_14DC, 0x14DC: HILINK_14DC}


class RecordingBackend(usb.backend.IBackend):
    """Records (op, endpoint, bytes) and swaps the device after a switch message."""

    def __init__(self, respond_csw: bool = True, switch_to: int | None = None) -> None:
        self.devices = [FakeDevice(0x12D1, 0x1F01, CDROM)]
        self.transfers: list[tuple[str, int, bytes]] = []
        self.events: list[str] = []
        self.respond_csw = respond_csw
        self.switch_to = switch_to          # None: whatever the message is known to give
        self._pending_switch: int | None = None
        self._last_tag = b"\0\0\0\0"

    # enumeration and descriptors
    def enumerate_devices(self):
        if self._pending_switch is not None:     # re-enumerate on the next look, as a real stick does
            pid = self._pending_switch
            self._pending_switch = None
            self.devices = [FakeDevice(0x12D1, pid, LAYOUTS.get(pid, STICK_155E), address=6)]
            self.events.append(f"re-enumerated as 12d1:{pid:04x}")
        return list(self.devices)

    def get_device_descriptor(self, dev):
        return dev.descriptor()

    def get_configuration_descriptor(self, dev, config):
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=0, bNumInterfaces=len(dev.interfaces),
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=250,
                               extra_descriptors=[])

    def get_interface_descriptor(self, dev, intf, alt, config):
        if intf >= len(dev.interfaces) or alt:
            raise IndexError("no such interface")
        cls, sub, proto, eps = dev.interfaces[intf]
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=intf, bAlternateSetting=0,
                               bNumEndpoints=len(eps), bInterfaceClass=cls, bInterfaceSubClass=sub,
                               bInterfaceProtocol=proto, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        return dev.interfaces[intf][3][ep]

    # handles and configuration
    def open_device(self, dev):
        self.events.append(f"open {dev.vid:04x}:{dev.pid:04x}")
        return dev

    def close_device(self, dev_handle):
        self.events.append("close")

    def get_configuration(self, dev_handle):
        return dev_handle.configured

    def set_configuration(self, dev_handle, config_value):
        dev_handle.configured = config_value

    def claim_interface(self, dev_handle, intf):
        self.events.append(f"claim {intf}")

    def release_interface(self, dev_handle, intf):
        self.events.append(f"release {intf}")

    def is_kernel_driver_active(self, dev_handle, intf):
        return intf in dev_handle.kernel_driver

    def detach_kernel_driver(self, dev_handle, intf):
        dev_handle.kernel_driver.discard(intf)
        self.events.append(f"detach {intf}")

    def clear_halt(self, dev_handle, ep):
        pass

    # transfers
    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        payload = bytes(data)
        self.transfers.append(("bulk_write", ep, payload))
        info = classify_message(payload)
        if info.valid_cbw:
            self._last_tag = payload[4:8]
            if info.targets or self.switch_to:
                self._pending_switch = self.switch_to or info.targets[0]
        return len(payload)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        if not self.respond_csw:
            raise usb.core.USBTimeoutError("timeout", errno=110, error_code=-7)
        csw = b"USBS" + self._last_tag + b"\0\0\0\0" + b"\0"
        for i, b in enumerate(csw):
            buff[i] = b
        self.transfers.append(("bulk_read", ep, csw))
        return len(csw)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        self.transfers.append(("ctrl", bRequest, bytes([bmRequestType, wValue & 0xFF])))
        if bRequest == 0x03 and wValue == 1:
            self._pending_switch = self.switch_to or 0x1001
        return 0 if data is None or isinstance(data, int) else len(data)

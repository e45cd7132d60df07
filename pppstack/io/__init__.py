"""The edges: the only modules that touch ports, USB, TUN devices, clocks and threads."""

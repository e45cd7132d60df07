"""A simulated Huawei E3372h-320 (stick mode): the AT dialect, the network's side of PPP, faults."""

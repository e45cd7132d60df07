"""The modem side, sans-I/O: USB mode-switch knowledge, port roles, AT dialogues, chat scripts
and dial sequences.  The edges that touch real ports and USB live in pppstack.io."""

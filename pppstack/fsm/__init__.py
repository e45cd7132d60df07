"""The RFC 1661 option-negotiation automaton, its option codecs and the generic control protocol."""

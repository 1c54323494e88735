"""The tick emitter: slot arithmetic (slots), atomic emission (emit) and the loop."""

"""Sparkplug B 3.0: the payload codec and the host application beside the JSON contract."""

"""The demo plant's simulator: its pure plant model, its faults, and its devices on MQTT."""

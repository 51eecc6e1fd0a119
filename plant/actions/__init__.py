"""The only code that changes shared state, one module per concept, a `do_*` function per change.

Each validates, writes in one transaction, journals, and publishes to the screens once the
transaction has committed: `setpoints` (the write outbox and its audit), `loops` (control
loop modes, outputs and leases), `alarms` (ISA-18.2 states, their journal and the emergency
actions), `vibration` (the zone alarms a vibration monitor's machine class implies) and
`preferences` (each person's choices for their own screens, such as the theme).
tests/test_architecture.py fails on code elsewhere that writes these rows.
"""

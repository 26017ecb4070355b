"""Charge point actors: one ChargePoint actor and one Connector actor per connector.

``actors.ocpp`` is the protocol they speak, without I/O.
"""

"""The Smart Charging profile (spec 3.13): charging profiles, the Composite Schedule, and the power each
connector offers.

Pure decisions in :mod:`.schedule` (one profile over time), :mod:`.profiles` (installing and clearing),
:mod:`.composite` (stacking and combining purposes, reporting) and :mod:`.sharing` (the ChargePointMaxProfile
among connectors); :class:`SmartCharging` (:mod:`.controller`) keeps the profiles in the charge point's
state and answers for them.
"""

from actors.smart_charging.controller import ChargingConnector, Offer, SmartCharging

__all__ = ["ChargingConnector", "Offer", "SmartCharging"]

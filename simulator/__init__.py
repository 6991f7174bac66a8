"""The ReelMirror simulator: a real HTTP server implementing the ReelMirror API contract, with a
simulated clock, Stripe billing through localstripe, server-side automation, rate limits, faults on
demand and an admin API. See ``simulator/README.md``.

Entry points: :class:`simulator.server.SimulatorServer`, :class:`simulator.admin.SimulatorAdmin`,
:class:`simulator.config.SimulatorConfig` and ``python -m simulator``.
"""

"""Mobile-money gateways: the interface the payout worker uses (``base``), the production M-Pesa
Daraja client (``daraja``), the circuit breaker and failover (``breaker``), and the Daraja simulator
that tests and the demo run against (``simulator``)."""

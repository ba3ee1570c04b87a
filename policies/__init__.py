"""The registry and the contract: regions, households, members, the income ledger, monitoring
lines and policy contracts. Knows nothing of HTTP, risk or claims."""

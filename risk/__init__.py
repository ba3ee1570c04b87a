"""Return-to-poverty risk: features, the household panel simulator, the model, batch scoring,
early warnings and post-payout income monitoring. Reads ``policies``; knows nothing of HTTP or
claims."""

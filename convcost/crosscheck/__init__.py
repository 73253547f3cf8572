"""Cross-check against torch: build real modules, count them with fvcore and FlopCounterMode, profile them."""

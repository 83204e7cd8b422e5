"""What LLM calls cost: custom prices, then the genai-prices catalogue at the call's time, exactly."""

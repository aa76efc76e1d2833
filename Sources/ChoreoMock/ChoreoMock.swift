// The mock provider.

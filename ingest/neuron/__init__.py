"""EMQX Neuron gateways: their uploads, write responses and driver status (plant.neuron)."""

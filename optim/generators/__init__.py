"""Instance generators: geographic (measured RTTs), the BPRR clustered and scattered (real network
topologies) scenarios, random synthetic."""
from .clustered import clustered_instance
from .geo import geo_instance
from .synthetic import random_instance
from .topology import topology_instance

#: every generator, in one place: ``optim bench`` sweeps look them up here by name
GENERATORS = {"geo": geo_instance, "clustered": clustered_instance, "random": random_instance,
              "topology": topology_instance}

__all__ = ["geo_instance", "clustered_instance", "random_instance", "topology_instance", "GENERATORS"]

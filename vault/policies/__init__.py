"""Purpose-bound access policies (pycasbin) compiled into access plans, and the transforms
that mask values."""

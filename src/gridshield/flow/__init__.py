"""Power flow: admittance matrices, AC Newton-Raphson, DC power flow, PTDF/LODF."""

"""Reports and plots: plotly figures and the self-contained HTML report."""

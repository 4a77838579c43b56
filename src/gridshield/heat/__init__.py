"""District heating: heat network from the grid, building cool-down, people without heat."""

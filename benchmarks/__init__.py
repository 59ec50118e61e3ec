"""Side-by-side benchmarks of aioglif against its peers, on the fake Glif server."""

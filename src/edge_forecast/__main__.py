from edge_forecast.cli import main

main()

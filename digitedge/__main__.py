from digitedge.cli import main

main()

from gridshield.cli import main

main()

from foleyflow.cli import main

main()

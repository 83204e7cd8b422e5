from cicosts.cli import main

main()

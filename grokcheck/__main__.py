from grokcheck.cli import main

main()

from rafka.cli.main import main

raise SystemExit(main())

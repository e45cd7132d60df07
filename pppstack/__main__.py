from pppstack.cli import main

raise SystemExit(main())

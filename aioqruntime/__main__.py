from aioqruntime.cli import main

raise SystemExit(main())

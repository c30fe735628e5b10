from interview_kit.cli import main

raise SystemExit(main())

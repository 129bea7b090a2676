from clinic_app.cli import main

main()

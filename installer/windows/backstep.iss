; Inno Setup 6 script: per-user installer of Backstep for Windows.
;
; Input: the PyInstaller one-folder build made ON WINDOWS (see installer/README.md):
;   dist\backstep\backstep.exe     windowed app (menu and desktop shortcuts)
;   dist\backstep\clinic-app.exe   console twin for the command line and --self-test
;   dist\backstep\_internal\...
; Build (from the repository root):
;   iscc /DAppVersion=0.1.0 installer\windows\backstep.iss
; Output: dist\backstep-<version>-setup.exe
;
; Per-user: no administrator rights, installs to %LOCALAPPDATA%\Programs\Backstep.
; The user's data (%LOCALAPPDATA%\Backstep: database, backups, logs) is never touched by
; installing, upgrading or uninstalling.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Backstep"
#define SourceDir "..\..\dist\backstep"

[Setup]
; Keep this AppId for every release: upgrades and the uninstaller find the install by it.
AppId={{6F1E3C2A-8B4D-4E7A-9C51-2D0B7A4E9F13}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Backstep
AppComments=Retro-walking knee rehabilitation charting for physiotherapy clinics
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=
DefaultDirName={localappdata}\Programs\{#AppName}
DisableDirPage=auto
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UsedUserAreasWarning=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=backstep-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\backstep.ico
UninstallDisplayIcon={app}\backstep.exe
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder build; stale files of an older version are removed first.
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\backstep.exe"; WorkingDir: "{app}"; IconFilename: "{app}\backstep.exe"; Comment: "Retro-walking knee rehabilitation charting"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\backstep.exe"; WorkingDir: "{app}"; IconFilename: "{app}\backstep.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\backstep.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the program folder; the user's data folder is left alone.
Type: filesandordirs; Name: "{app}\_internal"

[Code]
{ After copying the files, prove the installation works (no user data is touched). }
procedure CurStepChanged(CurStep: TSetupStep);
var
  ResultCode: Integer;
begin
  if CurStep = ssPostInstall then
  begin
    WizardForm.StatusLabel.Caption := 'Checking the installation...';
    if not Exec(ExpandConstant('{app}\clinic-app.exe'), '--self-test', ExpandConstant('{app}'),
                SW_HIDE, ewWaitUntilTerminated, ResultCode) or (ResultCode <> 0) then
      SuppressibleMsgBox('The installed Backstep failed its self-test (exit code ' +
        IntToStr(ResultCode) + '). Run "clinic-app.exe --self-test" in ' +
        ExpandConstant('{app}') + ' to see which check failed.', mbError, MB_OK, IDOK);
  end;
end;

; Inno Setup script for DiT360 Desktop (Windows x64). Needs Inno Setup 6.3 or newer (x64compatible).
;
; Compiled by packaging/build.py --target windows, which passes the defines below, e.g.
;   iscc /DAppVersion=0.1.0 /DSourceDir=dist\dit360-desktop /DIconFile=build\icons\dit360.ico
;        /DOutputDir=dist /DTorchFlavour=cuda /DSpanDisks packaging\windows\dit360.iss
;
; Not compiled or run in this project's CI (Linux only); reviewed against the Inno Setup help:
; https://jrsoftware.org/ishelp/ (topics cited next to each directive).

#ifndef AppVersion
  #error Pass /DAppVersion=<version> (packaging/build.py does)
#endif
#ifndef SourceDir
  #error Pass /DSourceDir=<PyInstaller one-folder output> (packaging/build.py does)
#endif
#ifndef IconFile
  #error Pass /DIconFile=<dit360.ico from packaging/icons/make_icons.py> (packaging/build.py does)
#endif
#ifndef OutputDir
  #define OutputDir "."
#endif
#ifndef TorchFlavour
  #define TorchFlavour "cpu"
#endif

#define AppName "DiT360 Desktop"
#define GuiExe "dit360-desktop.exe"

[Setup]
; A fixed AppId keeps upgrades and the uninstaller tied to one product. The doubled brace is Inno's
; escape for a literal "{" (topic_setup_appid.htm).
AppId={{8E3B6A52-4C1D-4F7A-9B2E-36D0C0F36A60}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=DiT360 Desktop contributors
; Per-user install, no UAC prompt: "When set to lowest, Setup will not request to be run with administrative
; privileges ... and will always run in non administrative install mode" (topic_setup_privilegesrequired.htm).
PrivilegesRequired=lowest
; In non administrative install mode the "auto" constants map to the "user" forms (topic_consts.htm):
; {autopf} -> {userpf} (%LOCALAPPDATA%\Programs), {autoprograms} -> {userprograms} (the user's Start menu).
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; The bundle is 64-bit only (topic_setup_architecturesinstallin64bitmode.htm).
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
OutputDir={#OutputDir}
OutputBaseFilename=DiT360-Desktop-{#AppVersion}-windows-x64-{#TorchFlavour}-setup
; Close a running copy before files are replaced on upgrade (topic_setup_closeapplications.htm).
CloseApplications=yes
Compression=lzma2/max
SolidCompression=yes
; Compress in a separate process so the compiler's own address space is not the limit on multi-GB input
; (topic_setup_lzmauseseparateprocess.htm).
LZMAUseSeparateProcess=yes
#ifdef SpanDisks
; Payloads over 2 GB (the CUDA build is about 4.5 GB unpacked): store the data in Setup-*.bin slices next to
; Setup.exe instead of inside it. "It is required that you set this directive to yes if the compressed size
; of your installation exceeds 4,200,000,000 bytes ... The installation will still function correctly if
; all the Setup-*.bin files are placed on the same disk" (topic_setup_diskspanning.htm). The slice size keeps
; the default of 2,100,000,000 bytes, which every Inno Setup 6 and 7 release accepts
; (topic_setup_diskslicesize.htm). Ship Setup.exe and all Setup-*.bin files together (one .zip).
DiskSpanning=yes
DiskSliceSize=2100000000
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller one-folder app (dit360-desktop.exe for the GUI, dit360.exe for the command line). Settings, models and the library live in the user's AppData and
; Pictures folders (platformdirs), never here, so upgrades and uninstalls leave them alone.
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
; Start-menu entry (topic_iconssection.htm). The uninstaller is registered in "Installed apps" automatically.
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: postinstall nowait skipifsilent

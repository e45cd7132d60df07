Sep 10 20:00:01 pi ModemManager[400]: <info>  [modem0] simple connect started...
Sep 10 20:00:02 pi ModemManager[400]: <debug> [ttyUSB2/at] --> 'ATD*99***1#<CR>'
Sep 10 20:00:02 pi ModemManager[400]: <debug> [ttyUSB2/at] <-- '<CR><LF>CONNECT<CR><LF>'
Sep 10 20:00:09 pi ModemManager[400]: <debug> [ttyUSB2/at] <-- '<CR><LF>NO CARRIER<CR><LF>'
Sep 10 20:00:11 pi ModemManager[400]: <debug> [ttyUSB2/at] <-- '<CR><LF>^BOOT:37206354,0,0,0,75<CR><LF>'
Sep 10 20:00:11 pi ModemManager[400]: <info>  [modem0] state changed (connected -> disabled)

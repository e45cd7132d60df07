Sep 11 09:00:01 pi ModemManager[400]: <info>  [modem0] simple connect started...
Sep 11 09:00:01 pi ModemManager[400]: <info>  [modem0] 3GPP registration state changed (searching -> home)
Sep 11 09:00:02 pi ModemManager[400]: <info>  [modem0] state changed (registered -> connecting)
Sep 11 09:00:05 pi ModemManager[400]: <warn>  [modem0] couldn't connect bearer: Missing or unknown APN
Sep 11 09:00:05 pi ModemManager[400]: <info>  [modem0] state changed (connecting -> registered)
